"""`import asgi`, `import js`, `from pyodide.ffi import ...` inside a worker, and never
shadowing an installed module of the same name."""

from __future__ import annotations

import importlib
import logging
import sys

import pytest

import emulator.sdk
from emulator.sdk import runtime_modules


@pytest.fixture
def fresh(monkeypatch):
    """Forget the runtime modules before and after the test."""
    names = ("asgi", "js", "pyodide", "pyodide.ffi", "pyodide.http", "workers.asgi")

    def forget():
        for name in names:
            sys.modules.pop(name, None)
        runtime_modules._warned.clear()

    forget()
    emulator.sdk.install()
    yield
    forget()


def test_runtime_modules_are_served_lazily(fresh):
    import asgi
    import js
    import workers.asgi
    from pyodide.ffi import JsProxy, run_sync, to_js
    from pyodide.http import pyfetch
    from workers import wsgi

    assert asgi is workers.asgi is importlib.import_module("emulator.sdk.asgi")
    assert wsgi is importlib.import_module("emulator.sdk.wsgi")
    assert js.Response.new("x").status == 200
    assert isinstance(to_js([1]), JsProxy)
    assert callable(run_sync) and callable(pyfetch)
    import pyodide

    assert pyodide.ffi.to_js is to_js and pyodide.__version__


def test_an_installed_module_of_the_same_name_wins(fresh, tmp_path, monkeypatch, caplog):
    (tmp_path / "asgi.py").write_text("THIRD_PARTY = True\n")
    (tmp_path / "pyodide").mkdir()
    (tmp_path / "pyodide" / "__init__.py").write_text("STUBS = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="edge.worker"):
        import asgi
        import pyodide
    assert asgi.THIRD_PARTY and pyodide.STUBS
    assert "use `from workers import asgi`" in caplog.text
    with pytest.raises(ImportError):  # never grafted into the installed package
        import pyodide.ffi
    from workers import asgi as runtime_asgi

    assert runtime_asgi.fetch
