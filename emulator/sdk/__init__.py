"""The emulator's implementation of the Python Workers `workers` module.

User code imports it as `workers` (`from workers import WorkerEntrypoint, Response`): the
worker loader registers this package under that name in `sys.modules`, so nothing named
`workers` is installed into site-packages and Cloudflare's own `workers-runtime-sdk`
(Pyodide-only) can sit beside us untouched.
"""

import sys
from typing import Any

from emulator.sdk import runtime_modules
from emulator.sdk.attrdict import AttrDict
from emulator.sdk.body import BodyUsedError
from emulator.sdk.current import import_from_javascript
from emulator.sdk.entrypoints import DurableObject, WorkerEntrypoint, WorkflowEntrypoint, handler
from emulator.sdk.fetch import fetch, using_client
from emulator.sdk.formdata import Blob, File, FormData
from emulator.sdk.headers import Headers
from emulator.sdk.request import Request
from emulator.sdk.response import Response

__all__ = [
    "AttrDict",
    "Blob",
    "BodyUsedError",
    "DurableObject",
    "File",
    "FormData",
    "Headers",
    "Request",
    "Response",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "fetch",
    "handler",
    "import_from_javascript",
    "install",
    "using_client",
]


def install() -> None:
    """Make `import workers` give this package (the loader calls it; so can test setups
    that import a worker's modules directly)."""
    sys.modules["workers"] = sys.modules[__name__]
    runtime_modules.install()


def __getattr__(name: str) -> Any:
    # Imported on first use: most workers need neither adapter (edge dev's cold start).
    if name in ("asgi", "wsgi"):
        import importlib

        return importlib.import_module(f"emulator.sdk.{name}")
    if name == "env":
        from emulator.sdk import current

        return current.env()
    if name in ("wait_until", "waitUntil"):
        from emulator.sdk import current

        return current.wait_until
    raise AttributeError(f"module 'workers' has no attribute {name!r}")
