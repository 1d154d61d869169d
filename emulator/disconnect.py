"""Client disconnects cancel the work done for that client, as on Cloudflare.

Cloudflare cancels the tasks of a request whose client went away; only `ctx.waitUntil()`
work keeps running, for up to 30 s after the response or the disconnect
(https://developers.cloudflare.com/workers/runtime-apis/context/#waituntil,
https://developers.cloudflare.com/workers/platform/limits/#duration). A non-streamed
`env.AI.run` that nobody will read must stop generating, not run to its last token.

ASGI servers only say `http.disconnect` to whoever awaits `receive()`, and a handler
that is busy awaiting an engine awaits nothing of the sort (Starlette listens only while
it streams a body). `ClientWatch` is the one reader of `receive()` once the request
body has been read: a task, started 20 to 40 ms into the request (`WATCH_AFTER`), that
waits for `http.disconnect` and then cancels the request's task, once (edge-triggered,
as `asyncio.timeout` does, so clean-up code may still await: an engine closing its
upstream, an AI stream releasing its sequence). Until the body is read, body messages
pass through untouched: a body is streamed in lazily and is never read on the
handler's behalf (a client that leaves a handler which never reads its body is noticed
when the response is sent). The app awaits `ClientWatch.receive` instead of the
server's, and gets `http.disconnect` from it once the watcher saw the client leave.

`CancelOnDisconnect` is the same as ASGI middleware (the Workers AI REST API);
`emulator.app` uses `ClientWatch` directly on its hot path.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["CancelOnDisconnect", "ClientWatch", "has_body"]

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
ASGIApp = Callable[[dict[str, Any], Receive, Callable[[Message], Awaitable[None]]], Awaitable[None]]

_DISCONNECT: Message = {"type": "http.disconnect"}

#: seconds into a request before its disconnect watcher starts (see `ClientWatch.watch`)
WATCH_AFTER = 0.02


def has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request with these (lower-cased ASGI) headers carries a body."""
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class ClientWatch:
    """One request's client: its body as the app reads it, and whether it left.

    `watch()` starts cancelling the current task when the client leaves; `unwatch()`
    stops (always call it, in a `finally`). A `CancelledError` caught while watched is
    the client's when `gone` is true: `absorb()` then undoes the cancellation request
    so the task carries on (to `ctx.waitUntil` work, to logging).
    """

    __slots__ = (
        "_body_read", "_ended", "_left", "_receive", "_task", "_watcher", "body_done", "gone",
    )  # fmt: skip

    def __init__(self, receive: Receive, *, body: bool) -> None:
        self._receive = receive
        self.body_done = not body
        self.gone = False
        self._ended = False  # the app was handed the body's last message
        self._body_read: asyncio.Event | None = None  # set once the app read the whole body
        self._left: asyncio.Event | None = None  # set when the watcher saw the disconnect
        self._task: asyncio.Task[Any] | None = None  # the watched task, while watched
        self._watcher: asyncio.Task[None] | None = None

    async def receive(self) -> Message:
        """ASGI `receive` for the app: the body, then `http.disconnect` when the client left."""
        if self.body_done:
            if not self._ended:  # no body: the app still gets its one empty body message
                self._ended = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.gone:
                return _DISCONNECT
            if self._task is None:  # not watching (any more): the server is the source
                return await self._receive()
            if self._watcher is None:  # the app waits for the disconnect: watch now
                self.start()
            if self._left is None:
                self._left = asyncio.Event()
            await self._left.wait()
            return _DISCONNECT
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._leave()
            self._finish_body()
        elif not message.get("more_body", False):
            self._ended = True
            self._finish_body()
        return message

    def watch(self, *, now: bool = False) -> None:
        """Cancel the current task (once) if the client leaves before `unwatch()`.

        The watcher task starts `WATCH_AFTER` to twice that seconds in (or `now`),
        started by the thread's `_Sweeper`: most requests are over by then (a hello world
        takes tens of microseconds; a task, or a timer, per request would cost it a
        tenth), and a client leaving earlier is noticed then."""
        self._task = asyncio.current_task()
        if now:
            self.start()
        else:
            _SWEEPER.add(self)

    def unwatch(self) -> None:
        self._task = None
        watcher, self._watcher = self._watcher, None
        if watcher is None:
            _SWEEPER.discard(self)
        elif not watcher.done():
            watcher.cancel()

    def start(self) -> None:
        """Start the watcher now (a streamed body is on its way out: watch it closely)."""
        if self._task is not None and self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def absorb(self) -> bool:
        """In an `except CancelledError`: True if the client's leaving caused it (the
        cancellation is then withdrawn from the task); False means re-raise."""
        if not self.gone:
            return False
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            task.uncancel()
        return True

    def _finish_body(self) -> None:
        self.body_done = True
        if self._body_read is not None:
            self._body_read.set()

    def _leave(self) -> None:
        if self.gone:
            return
        self.gone = True
        if self._left is not None:
            self._left.set()
        task = self._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel("the client disconnected")

    async def _watch(self) -> None:
        if not self.body_done:
            # the app may still read the body (or never will): only it takes body messages
            self._body_read = asyncio.Event()
            await self._body_read.wait()
        while not self.gone:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._leave()


class _Sweeper(threading.local):
    """Starts the watchers of the requests that have run for a whole tick: one
    `call_later` per `WATCH_AFTER` seconds while requests run, not one per request.
    One per thread (a thread runs one event loop at a time)."""

    def __init__(self) -> None:
        self.young: set[ClientWatch] = set()  # came since the last tick
        self.old: set[ClientWatch] = set()  # were there at the last tick
        self.loop: asyncio.AbstractEventLoop | None = None
        self.handle: asyncio.TimerHandle | None = None

    def add(self, client: ClientWatch) -> None:
        if self.handle is None:
            self._schedule()
        elif self.loop is not asyncio.get_running_loop():  # the last loop is gone
            self.handle.cancel()
            self.young.clear()
            self.old.clear()
            self._schedule()
        self.young.add(client)

    def discard(self, client: ClientWatch) -> None:
        self.young.discard(client)
        self.old.discard(client)

    def _schedule(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.handle = self.loop.call_later(WATCH_AFTER, self._tick)

    def _tick(self) -> None:
        old, self.old, self.young, self.handle = self.old, self.young, set(), None
        for client in old:
            client.start()
        if self.old:
            self._schedule()


_SWEEPER = _Sweeper()


class CancelOnDisconnect:
    """ASGI middleware: an HTTP request's handling is cancelled when its client leaves
    (see the module docstring); nothing is sent after that, the server closed the
    connection already."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = ClientWatch(receive, body=has_body(scope["headers"]))
        client.watch()
        try:
            await self.app(scope, client.receive, send)
        except asyncio.CancelledError:
            if not client.absorb():
                raise
        finally:
            client.unwatch()
