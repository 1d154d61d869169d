"""The `js`, `pyodide`, `pyodide.ffi` and `pyodide.http` module objects workers import.

Built as fresh module objects holding exactly the public names (so `from js import json`
fails as it would on Cloudflare); `emulator.sdk.runtime_modules` serves them to imports.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

__all__ = ["js_module", "pyodide_ffi_module", "pyodide_http_module", "pyodide_module"]

#: Pyodide's version the names follow (Cloudflare's runtime ships 0.26-0.28).
PYODIDE_VERSION = "0.28.0"


def _module(name: str, doc: str, names: dict[str, Any]) -> ModuleType:
    module = ModuleType(name, doc)
    module.__dict__.update(names)
    module.__all__ = sorted(n for n in names if not n.startswith("_"))  # type: ignore[attr-defined]
    return module


def js_module() -> ModuleType:
    from emulator.ffi import js

    module = _module("js", "edge's emulation of the JavaScript globals (docs/ffi.md).", js.GLOBALS)

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise js.missing(name)

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module


def pyodide_ffi_module() -> ModuleType:
    from emulator.ffi import blocking, convert, values

    names = {
        "IN_BROWSER": False,  # CPython: code that branches on it takes its CPython path
        "ConversionError": values.ConversionError,
        "JsArray": values.JsArray,
        "JsBuffer": values.JsBuffer,
        "JsTypedArray": values.JsBuffer,
        "JsDoubleProxy": values.JsDoubleProxy,
        "JsCallableDoubleProxy": values.JsDoubleProxy,
        "JsOnceCallable": values.JsDoubleProxy,
        "JsException": values.JsException,
        "JsMap": values.JsMap,
        "JsMutableMap": values.JsMap,
        "JsProxy": values.JsProxy,
        "JsSet": values.JsSet,
        "jsnull": values.jsnull,
        "to_js": convert.to_js,
        "create_proxy": convert.create_proxy,
        "create_once_callable": convert.create_once_callable,
        "destroy_proxies": convert.destroy_proxies,
        "run_sync": blocking.run_sync,
        "can_run_sync": blocking.can_run_sync,
    }
    return _module("pyodide.ffi", "edge's emulation of pyodide.ffi (docs/ffi.md).", names)


def pyodide_http_module() -> ModuleType:
    from emulator.ffi import http

    names = {
        "pyfetch": http.pyfetch,
        "FetchResponse": http.FetchResponse,
        "HttpStatusError": http.HttpStatusError,
    }
    return _module("pyodide.http", "edge's emulation of pyodide.http (docs/ffi.md).", names)


def pyodide_module() -> ModuleType:
    module = _module("pyodide", "edge's emulation of Pyodide's Python package (docs/ffi.md).",
                     {"__version__": PYODIDE_VERSION})
    module.__path__ = []  # a package: pyodide.ffi and pyodide.http import from it

    def __getattr__(name: str) -> Any:  # `import pyodide; pyodide.ffi.to_js`
        if name in ("ffi", "http"):
            import importlib

            return importlib.import_module(f"pyodide.{name}")
        raise AttributeError(f"module 'pyodide' has no attribute {name!r}")

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module
