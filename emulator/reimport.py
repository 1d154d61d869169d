"""Importing a worker's modules afresh on every load (hot reload).

`import_fresh(main, root)` purges the modules an earlier load imported from the worker's
folder, imports `main` again from source (no stale bytecode after a quick edit, no
`__pycache__` written into the worker's folder, which would also wake the file watcher)
and lets its sibling modules load the same way through a `sys.meta_path` finder. A load
that fails puts the previous modules back, so a worker loaded earlier keeps serving.
Third-party code and tests under the folder (`VENDORED`) are imported normally.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import emulator.sdk

__all__ = ["VENDORED", "FreshLoader", "import_fresh", "lock"]

#: Folders under a worker holding third-party code or tests: imported normally, never
#: purged (pytest owns test modules and their assertion rewriting).
VENDORED = frozenset(
    {"site-packages", "python_modules", ".venv", "venv", "node_modules", "tests", "test"}
)

#: held around a load: `sys.modules` and `sys.path` are process-wide.
lock = threading.RLock()


class FreshLoader(importlib.machinery.SourceFileLoader):
    """Compiles from source every time: no stale bytecode after a quick edit, no pycache."""

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


class _WorkerFinder:
    """Finds modules on sys.path as usual, but loads those inside a worker folder fresh."""

    def __init__(self) -> None:
        self.roots: set[Path] = set()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if not self.roots:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return None
        if _worker_root(spec.origin, self.roots) is None:
            return None
        spec.loader = FreshLoader(name, spec.origin)
        return spec


_finder = _WorkerFinder()


def _worker_root(file: str, roots: set[Path]) -> Path | None:
    # String prefixes, not Path.resolve(): this runs over all of sys.modules on each load,
    # and worker modules' __file__ always starts with the (resolved) folder put on sys.path.
    for root in roots:
        prefix = str(root) + os.sep
        if not file.startswith(prefix):
            continue
        parts = file[len(prefix):].split(os.sep)
        if VENDORED.isdisjoint(parts[:-1]) and not parts[-1].startswith(("test_", "conftest")):
            return root
    return None


def _worker_modules(root: Path) -> dict[str, ModuleType]:
    found = {}
    roots = {root}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or name.split(".")[0] in ("emulator", "bindings", "workers"):
            continue
        if _worker_root(file, roots) is not None:
            found[name] = module
    return found


_loaded_names: set[str] = set()  # modules earlier loads imported from any worker folder


def import_fresh(main: Path, root: Path) -> ModuleType:
    """Import `main` and (lazily, through it) its siblings in `root` afresh; on failure
    the modules of the previous load are put back. Hold `lock` around it."""
    stale = _worker_modules(root)
    stale.update({n: sys.modules[n] for n in _loaded_names if n in sys.modules})
    for name in stale:
        del sys.modules[name]
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    _finder.roots.add(root)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    importlib.invalidate_caches()
    emulator.sdk.install()

    name = main.stem
    taken = sys.modules.get(name)
    if (
        name in sys.stdlib_module_names
        or not name.isidentifier()
        or (taken is not None and getattr(taken, "__file__", None) != str(main))
    ):
        name = f"_edge_worker_{abs(hash(str(main)))}"
    spec = importlib.util.spec_from_file_location(name, main, loader=FreshLoader(name, str(main)))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for fresh in _worker_modules(root):
            sys.modules.pop(fresh, None)
        sys.modules.pop(name, None)
        sys.modules.update(stale)
        raise
    _loaded_names.update(_worker_modules(root))
    return module
