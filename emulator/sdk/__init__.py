"""The emulator's implementation of the Python Workers `workers` module.

User code imports it as `workers` (`from workers import WorkerEntrypoint, Response`): the
worker loader registers this package under that name in `sys.modules`, so nothing named
`workers` is installed into site-packages and Cloudflare's own `workers-runtime-sdk`
(Pyodide-only) can sit beside us untouched.
"""
