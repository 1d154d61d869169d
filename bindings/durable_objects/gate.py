"""The input gate of one Durable Object instance, and `blockConcurrencyWhile`.

Cloudflare delivers events (RPC calls, `fetch`, `alarm`) to an object one at a time in
the sense of https://blog.cloudflare.com/durable-objects-easy-fast-correct-choose-three/:
while a storage operation runs, nothing else is delivered; while the object awaits
other I/O (a `fetch`, a timer, another object), other events may start and interleave.
edge gets the first half for free, since storage calls complete before they return
(see `bindings.durable_objects.storage`): a read-modify-write with no other `await`
in between can never interleave. `blockConcurrencyWhile(callback)` closes the gate:
no new event is delivered until the callback finishes (at most 30 s, then the object
is reset, as on Cloudflare); if it raises, the object is reset and the waiting events
fail with its error. Events wait in arrival order (E-order).

What differs: Cloudflare also holds back I/O completions of events already running
while the gate is closed; asyncio cannot, so an event that was awaiting a `fetch`
before a `blockConcurrencyWhile` began may resume during it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["BLOCK_TIMEOUT", "InputGate"]

log = logging.getLogger("edge.durable_objects")

BLOCK_TIMEOUT = 30.0  # seconds, Cloudflare's limit on one blockConcurrencyWhile()
TIMED_OUT = (
    "A call to blockConcurrencyWhile() in a Durable Object waited for too long. "
    "The call was canceled and the Durable Object was reset."
)


class InputGate:
    """Closed while any `blockConcurrencyWhile` callback runs; `broken` once one failed."""

    def __init__(self, on_reset: Callable[[BaseException], None] = lambda exc: None) -> None:
        self._holds = 0
        self._opened = asyncio.Event()
        self._opened.set()
        self._on_reset = on_reset
        self.broken: BaseException | None = None

    @property
    def closed(self) -> bool:
        return self._holds > 0

    async def enter(self) -> None:
        """Wait until an event may be delivered; raises the error that reset the object."""
        while self._holds and self.broken is None:
            await self._opened.wait()
        if self.broken is not None:
            raise self.broken

    def block(self, callback: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run `callback()` (awaited if it is async) with the gate closed; the returned
        future has its result. Runs even if nobody awaits it (as a JS promise does)."""
        self._holds += 1
        self._opened.clear()

        async def run() -> Any:
            try:
                result = callback()
                if inspect.isawaitable(result):
                    try:
                        result = await asyncio.wait_for(_awaited(result), BLOCK_TIMEOUT)
                    except TimeoutError:
                        raise TimeoutError(TIMED_OUT) from None
                return result
            except BaseException as exc:
                self.broken = exc
                self._on_reset(exc)
                raise
            finally:
                self._holds -= 1
                if not self._holds:
                    self._opened.set()

        future = asyncio.ensure_future(run())
        future.add_done_callback(_report)
        return future


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _report(future: asyncio.Future[Any]) -> None:
    # a blockConcurrencyWhile() nobody awaited (the usual constructor call) must still
    # say why the object was reset
    if not future.cancelled() and future.exception() is not None:
        exc = future.exception()
        log.error("blockConcurrencyWhile() callback failed; the Durable Object was reset",
                  exc_info=(type(exc), exc, exc.__traceback__))  # fmt: skip
