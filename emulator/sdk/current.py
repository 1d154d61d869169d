"""The worker being served right now: `workers.env`, `workers.wait_until` and
`import_from_javascript("cloudflare:workers")`.

Cloudflare lets Python reach the env and `waitUntil` without a handler argument
(`from workers import env`, or `import_from_javascript("cloudflare:workers").env`, which
django-cf's D1 backend uses). Edge sets the current worker per event (`enter`/`leave`,
a context variable, so concurrent requests and several loaded workers keep theirs) and
while the worker module is imported (module-level code may read `env`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from contextvars import ContextVar, Token
from typing import Any

from emulator.errors import NotEmulatedError

__all__ = ["enter", "env", "import_from_javascript", "leave", "loading", "wait_until"]

_env: ContextVar[Any] = ContextVar("edge_current_env", default=None)
_ctx: ContextVar[Any] = ContextVar("edge_current_ctx", default=None)
_loaded: list[Any] = [None]  # the env of the worker loaded last (module-level code)


def loading(worker_env: Any) -> None:
    """The worker whose module is being imported now (and the fallback afterwards)."""
    _loaded[0] = worker_env


def enter(worker_env: Any, ctx: Any) -> tuple[Token, Token]:
    return _env.set(worker_env), _ctx.set(ctx)


def leave(tokens: tuple[Token, Token]) -> None:
    _env.reset(tokens[0])
    _ctx.reset(tokens[1])


def env() -> Any:
    current = _env.get()
    if current is None:
        current = _loaded[0]
    if current is None:
        raise RuntimeError("workers.env: no worker is loaded (it exists inside a worker only)")
    return current


def wait_until(awaitable: Awaitable[Any]) -> None:
    """`waitUntil` of the event being handled."""
    ctx = _ctx.get()
    if ctx is None:
        raise RuntimeError("waitUntil() outside a request or scheduled event")
    ctx.wait_until(awaitable)


class _CloudflareWorkers:
    """The `cloudflare:workers` JavaScript module as Python sees it."""

    @property
    def env(self) -> Any:
        return env()

    @staticmethod
    def waitUntil(awaitable: Awaitable[Any]) -> None:
        wait_until(awaitable)


_cloudflare_workers = _CloudflareWorkers()


def import_from_javascript(module_name: str) -> Any:
    """`workers.import_from_javascript(name)`: only `cloudflare:workers` is emulated."""
    if module_name == "cloudflare:workers":
        return _cloudflare_workers
    if module_name == "cloudflare:sockets":
        raise NotEmulatedError("cloudflare:sockets (TCP sockets) is not emulated by edge")
    raise ImportError(
        f"Failed to import '{module_name}': edge emulates only 'cloudflare:workers'"
    )
