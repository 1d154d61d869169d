"""Loading a Python Worker: import its main module afresh and find its entrypoint.

A worker is either `class Default(WorkerEntrypoint)` with `fetch` / `scheduled` methods
(https://developers.cloudflare.com/workers/languages/python/basics) or, in the legacy
form, module-level `on_fetch(request, env[, ctx])` / `on_scheduled(event, env, ctx)`;
defining both is an error, as on Cloudflare. From compatibility date 2025-08-14 Cloudflare
only runs the legacy form with the `disable_python_no_global_handlers` flag (workerd's
`pythonNoGlobalHandlers` in compatibility-date.capnp;
https://developers.cloudflare.com/changelog/2025-08-14-new-python-handlers); edge runs it
either way and says once when Cloudflare would not.

Every `load_worker` call imports the main module and its sibling modules again (hot
reload) through `emulator.reimport`; a load that fails restores the previous modules, so
a Worker loaded earlier keeps serving.
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bindings.contract import Handler, Middleware
from emulator import reimport
from emulator.config import WorkerConfig
from emulator.context import ExecutionContext
from emulator.errors import EdgeError
from emulator.scheduled import ScheduledController
from emulator.sdk import current
from emulator.sdk.attrdict import AttrDict
from emulator.sdk.entrypoints import WorkerEntrypoint
from emulator.sdk.request import Request
from emulator.sdk.response import Response

__all__ = ["Env", "HandlerMissingError", "Worker", "WorkerLoadError", "load_worker"]

log = logging.getLogger("edge.worker")

LEGACY_FLAG = "disable_python_no_global_handlers"
NO_GLOBAL_HANDLERS_FLAG = "python_no_global_handlers"
NO_GLOBAL_HANDLERS_DATE = "2025-08-14"  # the flag's default-on compatibility date
_LEGACY = ("on_fetch", "on_scheduled")
# What `from js import X` raises for a name edge does not emulate.
_NOT_EMULATED_IMPORT = re.compile(r"cannot import name '(\w+)' from '(js|pyodide[.\w]*)'")
_warned_legacy: set[Path] = set()


class WorkerLoadError(EdgeError):
    """The worker could not be loaded; the message names the file and the problem."""

    def __init__(self, file: Path | str, problem: str) -> None:
        self.file = Path(file)
        self.problem = problem
        super().__init__(f"{self.file}: {problem}")


class HandlerMissingError(RuntimeError):
    """The worker has no handler for this kind of event (workerd's wording)."""


class Env(AttrDict):
    """The worker's `env`: vars, secrets and bindings, as `env.NAME` and `env["NAME"]`."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if name.startswith("__"):
                raise AttributeError(name) from None
            known = ", ".join(sorted(self)) or "nothing"
            raise AttributeError(
                f"env has no binding or variable {name!r} (defined: {known}); "
                "add it to wrangler.toml ([vars], a binding) or .dev.vars"
            ) from None


# -- the Worker ---------------------------------------------------------------------------


def _arity(func: Callable[..., Any], bound_self: bool) -> int:
    """How many of (event, env, ctx) a handler accepts positionally."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return 3
    if bound_self and params:
        params = params[1:]
    count = 0
    for param in params:
        if param.kind is param.VAR_POSITIONAL:
            return 3
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return min(count, 3)


def _method(cls: type, name: str) -> tuple[Callable[..., Any] | None, int]:
    func = getattr(cls, name, None)
    if func is None or getattr(WorkerEntrypoint, name, None) is func:
        return None, 0
    if not callable(func):
        return None, 0
    static = isinstance(inspect.getattr_static(cls, name), staticmethod | classmethod)
    return func, _arity(func, bound_self=not static)


def legacy_handlers_allowed(config: WorkerConfig) -> bool:
    """Whether Cloudflare would run module-level on_fetch/on_scheduled for this config."""
    flags = config.compatibility_flags
    if LEGACY_FLAG in flags:
        return True
    if NO_GLOBAL_HANDLERS_FLAG in flags:
        return False
    # Wrangler treats a missing compatibility_date as today, i.e. after the default-on date.
    date = config.compatibility_date
    return bool(date) and str(date) < NO_GLOBAL_HANDLERS_DATE


def _hint(result: Any) -> str:
    if result is None:
        return " (did you forget to `return` it?)"
    if isinstance(result, dict | list):
        return "; to send JSON return Response.json(data)"
    if isinstance(result, str | bytes):
        return "; wrap it: Response(body)"
    return ""


class Worker:
    """A loaded worker: call `await worker.fetch(request, ctx)` per HTTP request."""

    def __init__(self, config: WorkerConfig, module: ModuleType, env: Env) -> None:
        self.config = config
        self.name = config.name
        self.main = Path(config.main)
        self.module = module
        self.env = env
        self.entrypoint: type[WorkerEntrypoint] | None = None
        self.legacy = False
        self.bound: list[tuple[Any, Any]] = []  # (BindingSpec, value): set by emulator.loader
        self._chain: Callable[..., Any] | None = None
        self._fetch: Callable[..., Any] | None = None
        self._scheduled: Callable[..., Any] | None = None
        self._fetch_arity = self._scheduled_arity = 0
        self._detect()

    def _detect(self) -> None:
        module, file = self.module, self.main
        default = getattr(module, "Default", None)
        legacy = [n for n in _LEGACY if callable(getattr(module, n, None))]
        if default is not None and legacy:
            raise WorkerLoadError(
                file,
                f"defines both class Default and module-level {' and '.join(legacy)}; "
                "Cloudflare rejects a worker with both handler forms: keep the "
                "Default(WorkerEntrypoint) methods and remove the module-level functions",
            )
        if default is not None:
            if not (isinstance(default, type) and issubclass(default, WorkerEntrypoint)):
                raise WorkerLoadError(
                    file, "Default must be a class subclassing workers.WorkerEntrypoint "
                    "(from workers import WorkerEntrypoint; class Default(WorkerEntrypoint): ...)"
                )
            self.entrypoint = default
            self._fetch, self._fetch_arity = _method(default, "fetch")
            self._scheduled, self._scheduled_arity = _method(default, "scheduled")
            if self._fetch is None and self._scheduled is None:
                raise WorkerLoadError(
                    file, "class Default defines no handler: add `async def fetch(self, request)` "
                    "or `async def scheduled(self, controller, env, ctx)`"
                )
            return
        if not legacy:
            raise WorkerLoadError(
                file, "no handler found: define `class Default(WorkerEntrypoint)` with "
                "`async def fetch(self, request)` (or a legacy module-level `on_fetch`)"
            )
        self.legacy = True
        if "on_fetch" in legacy:
            self._fetch = module.on_fetch
            self._fetch_arity = _arity(self._fetch, bound_self=False)
        if "on_scheduled" in legacy:
            self._scheduled = module.on_scheduled
            self._scheduled_arity = _arity(self._scheduled, bound_self=False)
        if not legacy_handlers_allowed(self.config) and file not in _warned_legacy:
            _warned_legacy.add(file)
            log.warning(
                "%s uses legacy module-level handlers (%s); from compatibility_date %s "
                'Cloudflare only runs them with compatibility_flags = ["%s"] in %s '
                "(edge runs them either way)",
                file.name, ", ".join(legacy), NO_GLOBAL_HANDLERS_DATE, LEGACY_FLAG,
                self.config.file.name,
            )

    @property
    def has_fetch(self) -> bool:
        return self._fetch is not None

    @property
    def has_scheduled(self) -> bool:
        return self._scheduled is not None

    def _bind(self, kind: str, func: Callable[..., Any], ctx: ExecutionContext) -> Any:
        if self.entrypoint is None:
            return func
        # Cloudflare instantiates the entrypoint class for every event.
        return getattr(self.entrypoint(ctx, self.env), kind)

    def _label(self, kind: str) -> str:
        handler = f"on_{kind}" if self.legacy else f"Default.{kind}"
        return f"{self.main.name}: {handler}"

    def use(self, middleware: Sequence[Middleware]) -> None:
        """Run `middleware` (binding kinds' request hooks, e.g. static assets) around the
        fetch handler, the first given outermost."""
        handler: Callable[..., Any] = self._handle
        for step in reversed(middleware):
            handler = _link(step, handler)
        self._chain = handler if middleware else None

    async def fetch(self, request: Request, ctx: ExecutionContext) -> Response:
        """Handle one request: binding middleware, then the worker's fetch handler."""
        tokens = current.enter(self.env, ctx)
        try:
            if self._chain is not None:
                return await self._chain(request, ctx)
            return await self._handle(request, ctx)
        finally:
            current.leave(tokens)

    async def _handle(self, request: Request, ctx: ExecutionContext) -> Response:
        """Run the fetch handler; a non-Response result is a TypeError naming the handler."""
        if self._fetch is None:
            raise HandlerMissingError(
                f"Handler does not export a fetch() function ({self.main.name})."
            )
        handler = self._bind("fetch", self._fetch, ctx)
        result = handler(*(request, self.env, ctx)[: self._fetch_arity])
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, Response):
            raise TypeError(
                f"{self._label('fetch')} returned {type(result).__name__}, "
                f"expected a workers.Response{_hint(result)}"
            )
        if result.body_used:
            raise TypeError(
                f"{self._label('fetch')} returned a Response whose body was already read; "
                "return response.clone() or a new Response with the text"
            )
        return result

    async def scheduled(self, controller: ScheduledController, ctx: ExecutionContext) -> None:
        """Run the scheduled handler with (controller, env, ctx), as many as it accepts."""
        if self._scheduled is None:
            raise HandlerMissingError(
                f"Handler does not export a scheduled() function ({self.main.name})."
            )
        handler = self._bind("scheduled", self._scheduled, ctx)
        tokens = current.enter(self.env, ctx)
        try:
            result = handler(*(controller, self.env, ctx)[: self._scheduled_arity])
            if inspect.isawaitable(result):
                await result
        finally:
            current.leave(tokens)

    def __repr__(self) -> str:
        form = "legacy" if self.legacy else "Default"
        return f"Worker(name={self.name!r}, main={str(self.main)!r}, entrypoint={form})"


def _link(step: Middleware, call_next: Handler) -> Handler:
    async def handler(request: Request, ctx: ExecutionContext) -> Response:
        return await step(request, ctx, call_next)

    return handler


def load_worker(config: WorkerConfig, env: dict[str, Any]) -> Worker:
    """Import `config.main` afresh and return the Worker; raises WorkerLoadError."""
    main = Path(config.main).resolve()
    if main.suffix != ".py":
        raise WorkerLoadError(main, "edge runs Python Workers: main must be a .py file")
    if not main.is_file():
        raise WorkerLoadError(main, "main module not found (check `main` in the wrangler file)")
    with reimport.lock:
        vendored = Path(config.root) / "python_modules"
        if vendored.is_dir() and str(vendored) not in sys.path:
            # pywrangler vendors packages here; after site-packages, since its wheels may be
            # Pyodide builds that CPython cannot load.
            sys.path.append(str(vendored))
        worker_env = Env(env)
        current.loading(worker_env)  # module-level code may read workers.env
        try:
            module = reimport.import_fresh(main, main.parent)
        except SyntaxError as exc:
            bad = Path(exc.filename or main)
            shown = bad.relative_to(main.parent) if bad.is_relative_to(main.parent) else bad
            where = f"{shown}, line {exc.lineno}"
            raise WorkerLoadError(main, f"SyntaxError: {exc.msg} ({where})") from exc
        except ImportError as exc:
            missing = _NOT_EMULATED_IMPORT.search(str(exc))
            if missing:
                name, module = missing.groups()
                raise WorkerLoadError(
                    main, f"imports {module}.{name}, which edge does not emulate "
                    "(docs/ffi.md lists the emulated names)",
                ) from exc
            raise WorkerLoadError(
                main, f"importing the worker failed: {type(exc).__name__}: {exc}"
            ) from exc
        except (Exception, SystemExit) as exc:
            raise WorkerLoadError(
                main, f"importing the worker failed: {type(exc).__name__}: {exc}"
            ) from exc
        return Worker(config, module, worker_env)
