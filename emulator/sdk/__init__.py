"""The emulator's implementation of the Python Workers `workers` module.

User code imports it as `workers` (`from workers import WorkerEntrypoint, Response`): the
worker loader registers this package under that name in `sys.modules`, so nothing named
`workers` is installed into site-packages and Cloudflare's own `workers-runtime-sdk`
(Pyodide-only) can sit beside us untouched.
"""

import sys

from emulator.sdk.attrdict import AttrDict
from emulator.sdk.body import BodyUsedError
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
    "install",
    "using_client",
]


def install() -> None:
    """Make `import workers` give this package (the loader calls it; so can test setups
    that import a worker's modules directly)."""
    sys.modules["workers"] = sys.modules[__name__]
