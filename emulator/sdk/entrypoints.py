"""Entrypoint base classes and the legacy `@handler` decorator.

As in Cloudflare's SDK (workerd `src/pyodide/internal/workers-api`), a worker's handlers
live in `class Default(WorkerEntrypoint)`; the runtime instantiates it with `(ctx, env)`
for each event and calls `fetch` / `scheduled` on it. The emulator passes native Python
objects already, so nothing needs wrapping: `handler` only marks a legacy function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["DurableObject", "WorkerEntrypoint", "WorkflowEntrypoint", "handler"]

F = TypeVar("F", bound=Callable[..., Any])


class WorkerEntrypoint:
    """Base class of `Default`: handlers are methods; `self.ctx` and `self.env` are set."""

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


class DurableObject:
    """Base class of a Durable Object: `ctx` is its `DurableObjectState` (`ctx.id`,
    `ctx.storage`, `ctx.blockConcurrencyWhile`), `env` the worker's env. Public methods
    are callable over RPC (`await stub.method(...)`); `fetch(request)` and
    `alarm(alarm_info)` are its handlers (see `bindings.durable_objects`)."""

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


class WorkflowEntrypoint:
    """Base class of a Workflow entrypoint (not emulated yet; defined so imports work)."""

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


def handler(func: F) -> F:
    """Mark a legacy module-level handler (`@handler async def on_fetch(...)`).

    On Cloudflare it converts the JavaScript request to `workers.Request`; here requests
    already are, so the function is returned unchanged (only marked).
    """
    func.__edge_handler__ = True  # type: ignore[attr-defined]
    return func
