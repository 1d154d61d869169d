"""`edge dev` without the CLI: load, serve, watch, reload, shut down.

`DevServer` holds the current `Worker` and swaps it atomically when the reloader reports
a change; requests in flight finish on the worker they started with. A reload that fails
(bad config, syntax error, import error) prints the error and keeps the last good worker.
Long-lived services (a loaded model, connection pools) live in one `BindingHost` for the
whole session, so reloads never reload models; they are closed on shutdown. The server
knows no binding kind: what a kind adds (start-up checks, banner lines, a side app such
as the Workers AI REST API on its own port) comes through `emulator.loader`.

Mirrors `wrangler dev` (https://developers.cloudflare.com/workers/wrangler/commands/#dev):
same flags, `.wrangler/state` as the default state folder, `/__scheduled` under
`--test-scheduled`, the `[b]`/`[c]`/`[x]` keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape

from bindings.contract import BindingHost
from emulator import banner, dependencies, loader, serving
from emulator.app import create_app
from emulator.config import ConfigError, WorkerConfig, load_config
from emulator.cputime import cpu_limit_ms
from emulator.errors import EdgeError, explain
from emulator.http_limits import PLANS, HttpLimits
from emulator.local_settings import FILENAME as LOCAL_SETTINGS_FILE
from emulator.reloader import Reloader
from emulator.watchdog import LoopWatchdog, blocked_threshold

log = logging.getLogger("edge.dev")

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
    api: bool = True  # serve the bindings' side apps (the Workers AI REST API)
    api_token: str | None = None  # None: side apps answer anyone, so they stay on loopback
    reload: bool = True
    install_deps: bool = False  # pip-install the worker's pyproject.toml dependencies
    interactive: bool | None = None  # None: when stdin and stdout are terminals
    log_level: str = "info"
    #: the worker port's request body limit (Cloudflare's Free plan); None: no limit
    max_body_bytes: int | None = PLANS["free"]


class DevError(EdgeError):
    """`edge dev` cannot start (bad config, port in use); the message says why."""

    @classmethod
    def wrapping(cls, error: BaseException) -> DevError:
        wrapped = cls(str(error))
        wrapped.hint = getattr(error, "hint", None)
        return wrapped


class _BrokenWorker:
    """Stands in when the first load fails: every request gets the load error's 500 page
    until a saved fix loads."""

    has_scheduled = True
    bound: list[tuple[Any, Any]] = []  # noqa: RUF012 - never mutated

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
        self.api_url: str | None = None  # the first side app's URL
        self.side_apps: dict[str, str] = {}  # kind -> URL of its side app
        self.reloads = 0
        self._worker: Any = None
        self._app: Any = None  # the worker port's EdgeApp
        self._watchdog: LoopWatchdog | None = None
        self._servers: list[tuple[serving.Server, asyncio.Task[None]]] = []
        self._reloader: Reloader | None = None
        self._reloader_task: asyncio.Task[None] | None = None
        self._keys: Any = None
        self._stopped = asyncio.Event()
        self._started_specs: set[tuple] = set()
        self._rows: list[banner.BindingRow] = []
        self._titles: dict[str, str] = {}  # kind -> title of its side app
        self._ip, self._port = DEFAULT_IP, 0
        self._missing: list[dependencies.Missing] | None = None

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

    async def reload(self, changed: set[Path] | None = None) -> bool:
        """Rebuild config, env and worker; swap them in if everything loads. True on success."""
        started = time.perf_counter()
        assert self.host is not None
        try:
            config = self._load_config()
            # a broken edge.toml raises here, so the last good settings stay in force
            self.host.settings = self.host.settings.reloaded()
            self._check_dependencies(config)
            limit = cpu_limit_ms(config.raw, config.env_name)
            worker = loader.load(config, self.host)
            await loader.startup(worker.bound, self._started_specs)
        except Exception as exc:
            banner.print_load_error(
                self.console, exc, kept=not isinstance(self._worker, _BrokenWorker)
            )
            return False
        old, self.config, self._worker = self._worker, config, worker
        if self._app is not None:
            self._app.cpu_limit_ms = limit
        self.reloads += 1
        await loader.retire(old.bound)
        await self._start_side_apps(config)
        rows = banner.binding_rows(config, worker.bound)
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
        o = self.options
        state = loader.state_dir(config, o.persist_to)
        return loader.host_for(config, state, ai_routes=o.ai_routes)

    def _watched_files(self, config: WorkerConfig) -> list[Path]:
        return [
            *config.watched_files(),
            config.root / LOCAL_SETTINGS_FILE,
            config.root / dependencies.PYPROJECT,
        ]

    def _check_dependencies(self, config: WorkerConfig) -> None:
        """Say (once per change) which of the worker's pyproject.toml dependencies this
        environment lacks, with the command that installs them; install them first with
        `install_deps`. Never fails the load: the import error would say it anyway."""
        try:
            missing = dependencies.check(config.root)
            if missing and self.options.install_deps and dependencies.install(missing):
                missing = dependencies.check(config.root)
        except dependencies.DependencyError as exc:
            log.warning("%s", exc)
            return
        if missing and missing != self._missing:
            log.warning("%s", dependencies.summary(missing))
        self._missing = missing

    async def start(self) -> None:
        """Load the worker, bind the sockets, start serving and print the banner.
        Raises `DevError` when it cannot start (the message is for the user)."""
        banner.configure_logging(self.console, self.options.log_level)
        serving.quiet_aborted_streams()
        try:
            config = self._load_config()
            limit = cpu_limit_ms(config.raw, config.env_name)
            self.host = self._host(config)
        except Exception as exc:  # bad config, edge.toml or --ai-route: nothing to serve yet
            raise DevError.wrapping(exc) from exc
        self.config = config
        self._check_dependencies(config)
        try:
            self._worker = loader.load(config, self.host)
        except Exception as exc:
            if isinstance(exc, ConfigError):
                raise DevError.wrapping(exc) from exc
            banner.print_load_error(self.console, exc, kept=False)
            self._worker = _BrokenWorker(config.name, exc)
        await loader.startup(self._worker.bound, self._started_specs)

        ip = self.options.ip or config.dev.ip or DEFAULT_IP
        port = self.options.port if self.options.port is not None else config.dev.port
        try:
            sock = serving.bind(ip, port)
        except serving.ServeError as exc:
            raise DevError.wrapping(exc) from exc
        self.url = serving.url_for(ip, sock.getsockname()[1])
        quiet = self.options.log_level not in ("debug", "info", "log")
        app = self._app = create_app(
            self.current_worker,
            cpu_limit_ms=limit,
            test_scheduled=self.options.test_scheduled,
            log_request=None if quiet else banner.RequestLog(self.console),
            report_error=lambda exc, method, url: banner.print_exception(
                self.console, exc, method, url
            ),
        )
        limits = HttpLimits(max_body_bytes=self.options.max_body_bytes)
        self._servers.append(await serving.serve(app, sock, limits))
        self._watchdog = LoopWatchdog(blocked_threshold())
        self._watchdog.start()

        self._ip, self._port = ip, sock.getsockname()[1]
        await self._start_side_apps(config)

        interactive = self.options.interactive
        if interactive is None:
            interactive = os.isatty(0) and os.isatty(1)
        self._rows = banner.binding_rows(config, self._worker.bound)
        banner.print_banner(
            self.console,
            name=config.name,
            url=self.url,
            rows=self._rows,
            side_apps=[(self._titles[kind], url) for kind, url in self.side_apps.items()],
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

    async def _start_side_apps(self, config: WorkerConfig) -> None:
        """Serve each binding kind's side app (the Workers AI REST API) on a port of its
        own: the first on `--api-port` (default: the worker's port + 1), others on free
        ports. A kind that first appears on a reload gets its app then."""
        if not self.options.api or self.host is None:
            return
        for kind, side in loader.side_apps(config, self.host, self.options.api_token):
            if kind in self._titles:
                continue
            self._titles[kind] = side.title
            port = 0
            if not self.side_apps:
                port = self.options.api_port
                if port is None:
                    port = self._port + 1 if self.options.port != 0 and self._port else 0
            url = await self._serve_side_app(side.title, side.app, port)
            if url is not None:
                self.side_apps[kind] = url
                self.api_url = self.api_url or url
                if self.reloads:  # the banner is out: say where it is now
                    self.console.print(f"{escape(side.title)} on [link={url}]{url}[/link]")

    async def _serve_side_app(self, title: str, app: Any, port: int) -> str | None:
        ip = self._ip
        if self.options.api_token is None and not serving.is_loopback(ip):
            log.warning(
                "%s kept on 127.0.0.1: it has no token; pass --api-token "
                "(or EDGE_API_TOKEN) to serve it on %s",
                title,
                ip,
            )
            ip = "127.0.0.1"
        try:
            sock = serving.bind(ip, port)
        except serving.ServeError as exc:
            log.warning("%s not started: %s (use --api-port or --no-api)", title, exc)
            return None
        # the API answers its own body limit (413 / 3006) in its own format
        limits = HttpLimits(max_body_bytes=None)
        self._servers.append(await serving.serve(app, sock, limits))
        return serving.url_for(ip, sock.getsockname()[1])

    def stop(self) -> None:
        self._stopped.set()

    async def wait(self) -> None:
        await self._stopped.wait()

    async def aclose(self) -> None:
        """Stop watching and serving, then close shared services (engines, pools)."""
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
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
        if self._worker is not None:
            await loader.retire(self._worker.bound)
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
        server.console.print(f"[bold red]✘ {escape(explain(exc))}[/]")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
