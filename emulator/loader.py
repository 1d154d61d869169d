"""Turning a worker's configuration into a running `Worker`, and retiring it: the one
place `edge dev`, the test harness and the CLI build bindings and workers.

`load()` builds every binding through the registry (`bindings.registry`), makes `env`,
imports the worker module afresh (`emulator.worker.load_worker`), runs each kind's
`after_load` hook (it sees the module: Durable Object classes live there) and puts each
kind's request `middleware` around the worker's fetch. The session-level phases of the
contract live here too: `startup()` (once per binding, `edge dev` only), `side_apps()`
and `retire()` (a value's `close` hook, when a reload replaces it or the session ends).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bindings import registry
from bindings.contract import BindingHost, BindingSpec, SideApp
from emulator.config import WorkerConfig
from emulator.local_settings import load_local_settings
from emulator.worker import Worker, load_worker

__all__ = ["host_for", "load", "retire", "side_apps", "startup", "state_dir"]

log = logging.getLogger("edge.bindings")

Bound = list[tuple[BindingSpec, Any]]


def state_dir(config: WorkerConfig, persist_to: str | Path | None = None) -> Path:
    """Where bindings keep local state: `persist_to`, else `<root>/.wrangler/state`
    (Wrangler's default, so `edge` and `wrangler dev` can share it)."""
    if persist_to is not None:
        return Path(persist_to).resolve()
    return config.root / ".wrangler" / "state"


def host_for(
    config: WorkerConfig,
    state: Path,
    *,
    ai_routes: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> BindingHost:
    """The binding host of one worker: its state folder and the machine-local settings
    of its folder (`ConfigError` for a malformed `edge.toml`, `RouteError` for a bad
    `--ai-route`); `environ={}` ignores `EDGE_AI_ROUTES` (the test harness)."""
    settings = load_local_settings(config.root, ai_routes=ai_routes, environ=environ)
    return BindingHost(state_dir=state, settings=settings)


def load(
    config: WorkerConfig, host: BindingHost, *, extra: Mapping[str, Any] | None = None
) -> Worker:
    """Build the bindings and `env` (plus `extra` entries: a test's fakes), import the
    worker and apply the kinds' load-time hooks. Raises `WorkerLoadError` (or what a
    kind's `after_load` raises) when the worker cannot run."""
    host.config = config
    bound = registry.build_bindings(config, host)
    worker = load_worker(config, registry.build_env(config, host, bound, extra))
    worker.bound = bound
    middleware = []
    for spec, value in bound:
        kind = registry.get(spec.kind)
        if kind is None or value is None:
            continue
        if kind.after_load is not None:
            kind.after_load(spec, value, worker, host)
        if kind.middleware is not None:
            step = kind.middleware(spec, value, host)
            if step is not None:
                middleware.append(step)
    worker.use(middleware)
    return worker


async def startup(bound: Bound, done: set[tuple]) -> None:
    """Await each binding's `startup` hook (health checks, model warm-up) once per
    binding across reloads (`done` remembers them); a failure is reported, not raised:
    the worker can still serve its other routes."""
    for spec, value in bound:
        key = (spec.kind, spec.name, repr(sorted(spec.options.items())))
        kind = registry.get(spec.kind)
        if key in done or value is None or kind is None or kind.startup is None:
            continue
        try:
            await kind.startup(value)
        except Exception as exc:
            log.warning("binding %s (%s) failed its start-up check: %s", spec.name, spec.kind, exc)
        done.add(key)


def side_apps(
    config: WorkerConfig, host: BindingHost, token: str | None
) -> list[tuple[str, SideApp]]:
    """(kind, app) for each kind of `config` that serves a side app, in config order."""
    apps = []
    for kind_name in dict.fromkeys(spec.kind for spec in config.bindings):
        kind = registry.get(kind_name)
        if kind is None or kind.side_app is None or not kind.emulated:
            continue
        app = kind.side_app(host, token)
        if app is not None:
            apps.append((kind_name, app))
    return apps


async def retire(bound: Bound) -> None:
    """Call each value's `close` hook: the env holding them is no longer served."""
    for spec, value in bound:
        kind = registry.get(spec.kind)
        if value is None or kind is None or kind.close is None:
            continue
        try:
            result = kind.close(value)
            if hasattr(result, "__await__"):
                await result
        except Exception:
            log.exception("closing binding %s (%s) failed", spec.name, spec.kind)
