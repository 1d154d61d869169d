"""`edge dev` without the CLI: load, serve, watch, reload, shut down.

`DevServer` holds the current `Worker` and swaps it atomically when the reloader reports
a change; requests in flight finish on the worker they started with. A reload that fails
(bad config, syntax error, import error) prints the error and keeps the last good worker.
Long-lived services (a loaded model, connection pools) live in one `BindingHost` for the
whole session, so reloads never reload models; they are closed on shutdown.

Mirrors `wrangler dev` (https://developers.cloudflare.com/workers/wrangler/commands/#dev):
same flags, `.wrangler/state` as the default state folder, `/__scheduled` under
`--test-scheduled`, the `[b]`/`[c]`/`[x]` keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ipaddress
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bindings.registry import BindingHost, build_env
from emulator import banner, serving
from emulator.app import create_app
from emulator.config import ConfigError, WorkerConfig, load_config
from emulator.reloader import Reloader

log = logging.getLogger("edge.dev")

DEFAULT_PORT = 8787
DEFAULT_IP = "127.0.0.1"


@dataclass
class DevOptions:
    """Everything `edge dev` takes; None means "from wrangler.toml's [dev], else default"."""

    path: Path | None = None
    config_file: Path | None = None
    env: str | None = None
    ip: str | None = None
    port: int | None = None
    vars: dict[str, str] = field(default_factory=dict)
    persist_to: Path | None = None
    test_scheduled: bool = False
    ai_routes: list[str] = field(default_factory=list)
    api_port: int | None = None  # None: the worker's port + 1 (0 when the worker's is 0)
    api: bool = True
    api_token: str | None = None  # None: the REST API answers anyone, so it stays on loopback
    reload: bool = True
    interactive: bool | None = None  # None: when stdin and stdout are terminals
    log_level: str = "info"


class DevError(Exception):
    """`edge dev` cannot start (bad config, port in use); the message says why."""


class _BrokenWorker:
    """Stands in when the first load fails: every request gets the load error's 500 page
    until a saved fix loads."""

    has_fetch = True
    has_scheduled = True

    def __init__(self, name: str, error: BaseException) -> None:
        self.name = name
        self.error = error

    async def fetch(self, request: Any, ctx: Any) -> Any:
        raise self.error

    async def scheduled(self, controller: Any, ctx: Any) -> None:
        raise self.error


class DevServer:
    """One `edge dev` session. `await serve()` runs until `stop()` (or SIGINT/SIGTERM)."""

    def __init__(self, options: DevOptions, console: Any = None) -> None:
        self.options = options
        self.console = console or banner.make_console()
        self.config: WorkerConfig | None = None
        self.host: BindingHost | None = None
        self.url = ""
        self.api_url: str | None = None
        self.reloads = 0
        self._worker: Any = None
        self._servers: list[tuple[serving.Server, asyncio.Task[None]]] = []
        self._reloader: Reloader | None = None
        self._reloader_task: asyncio.Task[None] | None = None
        self._keys: Any = None
        self._stopped = asyncio.Event()
        self._started_specs: set[tuple] = set()
        self._rows: list[banner.BindingRow] = []

    # --- the worker -----------------------------------------------------------------

    def current_worker(self) -> Any:
        return self._worker

    def worker_env(self) -> Any:
        """The current worker's `env` (vars, secrets, binding objects)."""
        return getattr(self._worker, "env", {})

    def _load_config(self) -> WorkerConfig:
        o = self.options
        return load_config(
            o.path, config_file=o.config_file, env=o.env, var_overrides=o.vars or None
        )

    def _build(self, config: WorkerConfig) -> tuple[dict[str, Any], Any]:
        from emulator.worker import load_worker

        assert self.host is not None
        env = build_env(config, self.host)
        return env, load_worker(config, env)

    async def _startup_bindings(self, config: WorkerConfig, env: dict[str, Any]) -> None:
        """Await `startup()` once per binding (health checks, model warm-up)."""
        for spec in config.bindings:
            key = (spec.kind, spec.name, repr(sorted(spec.options.items())))
            if key in self._started_specs:
                continue
            obj = env.get(spec.name)
            if obj is None:  # not built (pending kind, or the worker failed to load)
                continue
            startup = getattr(obj, "startup", None)
            if callable(startup):
                try:
                    await startup()
                except Exception as exc:  # report it; the worker can still serve other routes
                    log.warning(
                        "binding %s (%s) failed its start-up check: %s", spec.name, spec.kind, exc
                    )
            self._started_specs.add(key)

    async def reload(self, changed: set[Path] | None = None) -> bool:
        """Rebuild config, env and worker; swap them in if everything loads. True on success."""
        started = time.perf_counter()
        try:
            config = self._load_config()
            self._refresh_local_settings(config)
            env, worker = self._build(config)
            await self._startup_bindings(config, env)
        except Exception as exc:
            banner.print_load_error(
                self.console, exc, kept=not isinstance(self._worker, _BrokenWorker)
            )
            return False
        self.config, self._worker = config, worker
        self.reloads += 1
        rows = banner.binding_rows(config, env)
        if rows != self._rows:  # as Wrangler does when the config changes what env holds
            self._rows = rows
            banner.print_bindings(self.console, rows)
        if self._reloader is not None:
            self._reloader.set_files(self._watched_files(config))
        names = [p.name for p in changed or ()]
        banner.print_reloaded(self.console, names, (time.perf_counter() - started) * 1000)
        return True

    # --- start / stop ---------------------------------------------------------------

    def _host(self, config: WorkerConfig) -> BindingHost:
        from bindings.ai.routing import parse_routes

        o = self.options
        parse_routes(list(o.ai_routes))  # a bad --ai-route fails now, with its own message
        state_dir = (
            Path(o.persist_to).resolve() if o.persist_to else config.root / ".wrangler" / "state"
        )
        return BindingHost.for_worker(config, state_dir, ai_routes=o.ai_routes)

    def _watched_files(self, config: WorkerConfig) -> list[Path]:
        from emulator.local_settings import FILENAME

        return [*config.watched_files(), config.root / FILENAME]

    def _refresh_local_settings(self, config: WorkerConfig) -> None:
        """Re-read `edge.toml` (a bad one raises, so the last good worker keeps serving)
        and hand changed AI routes to the live service, which keeps unchanged engines."""
        from emulator.local_settings import load_local_settings

        assert self.host is not None
        local = load_local_settings(config.root)
        if local == self.host.options.get("local"):
            return
        self.host.options["local"] = local
        service = self.host.services().get("ai")
        if service is not None:
            service.reconfigure(self.host.options)

    async def start(self) -> None:
        """Load the worker, bind the sockets, start serving and print the banner.
        Raises `DevError` when it cannot start (the message is for the user)."""
        banner.configure_logging(self.console, self.options.log_level)
        serving.quiet_aborted_streams()
        try:
            config = self._load_config()
            self.host = self._host(config)
        except Exception as exc:  # bad config, edge.toml or --ai-route: nothing to serve yet
            raise DevError(str(exc)) from exc
        self.config = config
        try:
            env, self._worker = self._build(config)
        except Exception as exc:
            if isinstance(exc, ConfigError):
                raise DevError(str(exc)) from exc
            env = {}
            banner.print_load_error(self.console, exc, kept=False)
            self._worker = _BrokenWorker(config.name, exc)
        await self._startup_bindings(config, env)

        ip = self.options.ip or config.dev.ip or DEFAULT_IP
        port = self.options.port if self.options.port is not None else config.dev.port
        try:
            sock = serving.bind(ip, port)
        except serving.ServeError as exc:
            raise DevError(str(exc)) from exc
        self.url = serving.url_for(ip, sock.getsockname()[1])
        quiet = self.options.log_level not in ("debug", "info", "log")
        app = create_app(
            self.current_worker,
            test_scheduled=self.options.test_scheduled,
            log_request=None if quiet else banner.RequestLog(self.console),
            report_error=lambda exc, method, url: banner.print_exception(
                self.console, exc, method, url
            ),
        )
        self._servers.append(await serving.serve(app, sock))

        if self.options.api:
            await self._start_api(ip, sock.getsockname()[1])

        interactive = self.options.interactive
        if interactive is None:
            interactive = os.isatty(0) and os.isatty(1)
        self._rows = banner.binding_rows(config, env)
        banner.print_banner(
            self.console,
            name=config.name,
            url=self.url,
            rows=self._rows,
            api_url=self.api_url,
            env_name=config.env_name,
            keys_hint=interactive,
            secrets_file=config.secrets_file,
        )
        if interactive:
            from emulator.keys import KeyListener

            self._keys = KeyListener(self.console, url=self.url, on_exit=self.stop)
            self._keys.start()
        if self.options.reload:
            self._reloader = Reloader(
                config.main.parent,
                self.reload,
                files=[*self._watched_files(config), config.main],
            )
            self._reloader_task = asyncio.create_task(self._reloader.run())

    async def _start_api(self, ip: str, worker_port: int) -> None:
        if importlib.util.find_spec("bindings.ai.rest") is None:
            return
        api_port = self.options.api_port
        if api_port is None:
            api_port = worker_port + 1 if self.options.port != 0 and worker_port else 0
        if self.options.api_token is None and not _is_loopback(ip):
            log.warning(
                "Workers AI REST API kept on 127.0.0.1: it has no token; pass --api-token "
                "(or EDGE_API_TOKEN) to serve it on %s",
                ip,
            )
            ip = "127.0.0.1"
        try:
            sock = serving.bind(ip, api_port)
        except serving.ServeError as exc:
            log.warning("Workers AI REST API not started: %s (use --api-port or --no-api)", exc)
            return
        self.api_url = serving.url_for(ip, sock.getsockname()[1])
        self._servers.append(await serving.serve(_LazyApi(self), sock))

    def ai_service(self) -> Any:
        """The session's one `AiService` (shared with `env.AI` and the REST API)."""
        from bindings.ai.service import AiService

        assert self.host is not None
        host = self.host
        return host.shared("ai", lambda: AiService.from_options(host.options))

    def stop(self) -> None:
        self._stopped.set()

    async def wait(self) -> None:
        await self._stopped.wait()

    async def aclose(self) -> None:
        """Stop watching and serving, then close shared services (engines, pools)."""
        if self._keys is not None:
            self._keys.stop()
            self._keys = None
        if self._reloader is not None:
            self._reloader.stop()
        if self._reloader_task is not None:
            self._reloader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reloader_task
        for server, _ in self._servers:
            server.should_exit = True
        for _, task in self._servers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._servers.clear()
        if self.host is not None:
            await self.host.close()

    async def serve(self) -> None:
        """start(), wait for stop() / SIGINT / SIGTERM, then aclose()."""
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal)
                installed.append(sig)
        try:
            await self.start()
            await self.wait()
        finally:
            await self.aclose()
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _on_signal(self) -> None:
        if self._stopped.is_set():  # a second Ctrl-C: do not wait for anything
            os._exit(130)
        self.stop()


class _LazyApi:
    """The REST API app, imported and built on its first request so a worker without an
    AI binding starts without importing the AI stack."""

    def __init__(self, dev: DevServer) -> None:
        self.dev = dev
        self.app: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self.app is None:
            from bindings.ai.rest import create_app as create_api

            self.app = create_api(self.dev.ai_service(), api_token=self.dev.options.api_token)
        await self.app(scope, receive, send)


def _is_loopback(ip: str) -> bool:
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip.strip("[]")).is_loopback
    except ValueError:
        return False


def run(options: DevOptions) -> int:
    """Run a dev session in a fresh event loop (uvloop when installed). Returns an exit code."""
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    server = DevServer(options)
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(server.serve())
    except DevError as exc:
        from rich.markup import escape

        server.console.print(f"[bold red]✘ {escape(str(exc))}[/]")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
