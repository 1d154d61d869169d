"""The modules Cloudflare's Python runtime provides besides `workers`, made importable.

A worker on Cloudflare can `import asgi`, `from workers import asgi, wsgi`, `import js`
and `from pyodide.ffi import to_js`: those modules come with the runtime, not from PyPI.
`install()` (called by the worker loader) adds one import finder that serves edge's
versions lazily -- nothing is imported until a worker imports it:

- `workers.asgi` / `workers.wsgi` are always edge's (`emulator.sdk.asgi` / `.wsgi`);
- the top-level names `asgi`, `js`, `pyodide` (`pyodide.ffi`, `pyodide.http`) are served
  only when nothing else on `sys.path` provides them. A site-packages module of the same
  name (a PyPI `asgi`, or `pyodide-py`'s stubs) is never shadowed: it is imported as
  usual, and edge says once that the worker gets it instead of the runtime's module.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["install"]

log = logging.getLogger("edge.worker")


def _sdk(name: str) -> Callable[[], ModuleType]:
    return lambda: importlib.import_module(f"emulator.sdk.{name}")


def _ffi(factory: str) -> Callable[[], ModuleType]:
    def build() -> ModuleType:
        from emulator.ffi import modules

        return getattr(modules, factory)()

    return build


# name -> (builder, whether a module of that name elsewhere on sys.path wins)
_MODULES: dict[str, tuple[Callable[[], ModuleType], bool]] = {
    "workers.asgi": (_sdk("asgi"), False),
    "workers.wsgi": (_sdk("wsgi"), False),
    "asgi": (_sdk("asgi"), True),
    "js": (_ffi("js_module"), True),
    "pyodide": (_ffi("pyodide_module"), True),
    "pyodide.ffi": (_ffi("pyodide_ffi_module"), True),
    "pyodide.http": (_ffi("pyodide_http_module"), True),
}
_warned: set[str] = set()


class _Loader(importlib.abc.Loader):
    def __init__(self, build: Callable[[], ModuleType]) -> None:
        self.build = build

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self.build()

    def exec_module(self, module: ModuleType) -> None:
        pass  # built complete by create_module


class _RuntimeFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        entry = _MODULES.get(name)
        if entry is None:
            return None
        build, yields = entry
        parent = name.rpartition(".")[0]
        if yields and parent:
            # pyodide.ffi only inside edge's pyodide, never inside an installed one
            spec = getattr(sys.modules.get(parent), "__spec__", None)
            if spec is None or spec.origin != "edge":
                return None
        elif yields:
            elsewhere = importlib.machinery.PathFinder.find_spec(name, path)
            if elsewhere is not None:
                if name not in _warned:
                    _warned.add(name)
                    log.warning(
                        "`import %s` gets %s, not the Cloudflare runtime's module edge "
                        "emulates (a package of that name is installed)%s",
                        name, elsewhere.origin,
                        "; use `from workers import asgi`" if name == "asgi" else "",
                    )
                return None
        spec = importlib.machinery.ModuleSpec(name, _Loader(build), origin="edge")
        if name == "pyodide":
            spec.submodule_search_locations = []
        return spec


_finder = _RuntimeFinder()


def install() -> None:
    """Put the finder first on `sys.meta_path` (idempotent)."""
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
