"""`ExecutionContext`: the `ctx` a handler receives (`ctx.wait_until`, `ctx.waitUntil`).

On Cloudflare (https://developers.cloudflare.com/workers/runtime-apis/context/) a promise
passed to `waitUntil` keeps running after the response is sent, and its failure does not
affect the response. Here the awaitable is scheduled at once (a JavaScript promise is
already running when it is passed) and the server awaits `drain()` after sending the
response; failures are logged, not raised, unless `drain(raise_errors=True)`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from typing import Any

__all__ = ["ExecutionContext"]

log = logging.getLogger("edge.worker")


class ExecutionContext:
    """Per-event context: background work (`wait_until`) and `pass_through_on_exception`."""

    __slots__ = ("_pending", "_tasks")

    def __init__(self) -> None:
        self._tasks: list[asyncio.Future[Any]] = []
        self._pending: list[Awaitable[Any]] = []  # given before an event loop was running

    def wait_until(self, awaitable: Awaitable[Any]) -> None:
        """Run `awaitable` to completion, even after the response has been sent."""
        if not inspect.isawaitable(awaitable):
            raise TypeError(
                f"wait_until() needs an awaitable (a coroutine, task or future), "
                f"got {type(awaitable).__name__}; did you forget to call the function?"
            )
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._pending.append(awaitable)
            return
        self._tasks.append(asyncio.ensure_future(awaitable))

    waitUntil = wait_until  # the JavaScript name

    def pass_through_on_exception(self) -> None:
        """Accepted and ignored: on Cloudflare an uncaught exception then forwards the
        request to the zone's origin; locally there is no origin, so the error page
        answers."""

    passThroughOnException = pass_through_on_exception  # the JavaScript name

    @property
    def pending(self) -> int:
        """How many wait_until awaitables have not finished yet."""
        return len(self._pending) + sum(1 for task in self._tasks if not task.done())

    async def drain(self, raise_errors: bool = False) -> None:
        """Await all wait_until work, including work added while draining."""
        if not self._tasks and not self._pending:
            return  # the common case, once per request
        first_error: BaseException | None = None
        done = 0
        while True:
            for awaitable in self._pending:
                self._tasks.append(asyncio.ensure_future(awaitable))
            self._pending.clear()
            if done == len(self._tasks):
                break
            batch = self._tasks[done:]
            done = len(self._tasks)
            results = await asyncio.gather(*batch, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    if isinstance(result, asyncio.CancelledError) and not raise_errors:
                        continue
                    if first_error is None:
                        first_error = result
                    if not raise_errors:
                        log.error(
                            "ctx.wait_until task failed", exc_info=(type(result), result,
                                                                     result.__traceback__)
                        )
        if raise_errors and first_error is not None:
            raise first_error
