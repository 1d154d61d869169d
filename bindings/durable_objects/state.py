"""`ctx` of a Durable Object (`DurableObjectState`): its id, storage and the gate.

https://developers.cloudflare.com/durable-objects/api/state/. WebSockets (hibernation
API: `acceptWebSocket`, `getWebSockets`, auto-responses) are not emulated: edge's
server does not upgrade WebSocket requests yet, so those methods say so, except
`getWebSockets()`, which truthfully has none to return.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bindings.durable_objects.gate import InputGate
from bindings.durable_objects.ids import DurableObjectId
from bindings.durable_objects.storage import ObjectStorage
from emulator.errors import NotEmulatedError

__all__ = ["AbortError", "DurableObjectState", "WebSocketsNotEmulated"]

log = logging.getLogger("edge.durable_objects")


class WebSocketsNotEmulated(NotEmulatedError):
    """Durable Object WebSockets: edge does not serve WebSockets yet."""

    hint = "see docs/durable-objects.md for what edge emulates of Durable Objects"


class AbortError(Exception):
    """Raised by `ctx.abort()`: the object is reset."""


class DurableObjectState:
    """The `ctx` a Durable Object's constructor receives."""

    def __init__(self, object_id: DurableObjectId, storage: ObjectStorage, gate: InputGate,
                 reset: Callable[[BaseException], None]) -> None:  # fmt: skip
        self.id = object_id
        self.storage = storage
        self._gate = gate
        self._reset = reset
        storage.block = gate.block

    def blockConcurrencyWhile(self, callback: Callable[[], Any]) -> asyncio.Future[Any]:
        """Deliver no other event until `callback()` (async or not) finishes."""
        return self._gate.block(callback)

    block_concurrency_while = blockConcurrencyWhile

    def waitUntil(self, awaitable: Awaitable[Any]) -> None:
        """Run `awaitable` to completion (an object stays alive anyway)."""
        if not inspect.isawaitable(awaitable):
            raise TypeError(
                f"waitUntil() needs an awaitable, got {type(awaitable).__name__}; "
                "did you forget to call the function?"
            )
        task = asyncio.ensure_future(awaitable)
        task.add_done_callback(_log_failure)

    wait_until = waitUntil

    def abort(self, reason: str | None = None) -> None:
        """Reset the object: the current call fails with `reason`, the next gets a new
        instance (storage is kept)."""
        error = AbortError(reason or "Application called abort() to reset Durable Object.")
        self._reset(error)
        raise error

    def getWebSockets(self, tag: str | None = None) -> list[Any]:
        return []

    get_web_sockets = getWebSockets

    def acceptWebSocket(self, *args: Any, **kwargs: Any) -> None:
        raise _websockets("acceptWebSocket")

    def setWebSocketAutoResponse(self, *args: Any, **kwargs: Any) -> None:
        raise _websockets("setWebSocketAutoResponse")

    def getWebSocketAutoResponse(self) -> None:
        return None

    def getTags(self, *args: Any, **kwargs: Any) -> None:
        raise _websockets("getTags")

    def setHibernatableWebSocketEventTimeout(self, *args: Any, **kwargs: Any) -> None:
        raise _websockets("setHibernatableWebSocketEventTimeout")

    def __repr__(self) -> str:
        return f"<DurableObjectState {self.id}>"


def _websockets(name: str) -> WebSocketsNotEmulated:
    return WebSocketsNotEmulated(
        f"ctx.{name}() is not emulated: edge does not serve WebSockets yet, so Durable "
        "Object WebSockets (and their hibernation API) are not available locally"
    )


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        log.error("Durable Object ctx.waitUntil() task failed",
                  exc_info=(type(exc), exc, exc.__traceback__))  # fmt: skip
