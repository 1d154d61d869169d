"""Driving an ASGI app in-process, one HTTP exchange at a time, with the body streamed.

This is what lets the test harness run `edge dev`'s own ASGI app (`emulator.app`) with
no server and no socket, the way Starlette's `TestClient` drives a real app. Neither
httpx's `ASGITransport` nor Starlette's test transport can be used as they are: both
await the whole app call and hand back the body collected in a list (httpx
`_transports/asgi.py`: `body_parts`, `ASGIResponseStream`), so a streamed body
arrives only once the worker has produced all of it, and the app never sees the
client leave.

Here `start()` runs the app in a task and returns once the response has started;
body chunks then cross one at a time: the app's `send` returns only when the reader
asks for the next chunk, so the worker produces exactly as much as the test has read
(flow control, as TCP gives it under `edge dev`). `aclose()` before the end is the client going
away: the app's `receive` answers `http.disconnect` and its `send` raises
`ClientDisconnected` (an OSError, as the ASGI spec asks), so it stops the body's
producer (an AI stream) as it does for a real client. Whatever the app raises comes out of
`start()` (before the response started) or of the body iterator (after it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

__all__ = ["ClientDisconnected", "Exchange", "start"]

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class ClientDisconnected(OSError):
    """Raised by `send` once the client has left (the ASGI spec's OSError for a send on
    a closed connection)."""


class Exchange:
    """One request/response with the app: `status`, raw `headers`, then the body."""

    __slots__ = (
        "_app_done", "_body", "_box", "_closed", "_complete", "_delivered", "_head", "_reader",
        "_started", "_task", "headers", "status", "streamed",
    )  # fmt: skip

    def __init__(self, body: bytes | AsyncIterable[bytes] | None, *, head: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self._body = body
        self._head = head  # a HEAD response has no body on the wire, whatever the app sends
        self._started = loop.create_future()  # set at http.response.start or app end
        self._box: tuple[bytes, bool] | None = None  # a body message not read yet
        self._delivered: asyncio.Future[None] | None = None  # set when the box is taken
        self._reader: asyncio.Future[None] | None = None  # the reader waiting for a box
        self._app_done = loop.create_future()  # resolved when the client stops listening
        self._complete = False  # the last body message was read
        self._closed = False  # the client went away (or finished)
        self._task: asyncio.Task[None] | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.streamed = False

    # --- the app's side --------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        body = self._body
        if body is not None:
            if isinstance(body, bytes):
                self._body = None
                return {"type": "http.request", "body": body, "more_body": False}
            chunks = body if hasattr(body, "__anext__") else aiter(body)
            self._body = chunks
            try:
                chunk = await anext(chunks)  # type: ignore[arg-type]
            except StopAsyncIteration:
                self._body = None
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": bytes(chunk), "more_body": True}
        # The request body is done: the next message is the client leaving, which an
        # HTTP client does once it has the whole response, or when it gives up early.
        await self._app_done
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers") or ())
            if not self._started.done():
                self._started.set_result(None)
            return
        if kind != "http.response.body":
            return
        if self._closed:
            raise ClientDisconnected("the client disconnected")
        more = bool(message.get("more_body", False))
        chunk = message.get("body", b"")
        if more:
            self.streamed = True
            if not chunk:
                return
        self._box = (bytes(chunk), more)
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)
        if more:  # wait until the reader took it: the worker runs no further ahead
            self._delivered = asyncio.get_running_loop().create_future()
            await self._delivered

    def _on_app_done(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if not self._started.done():
            if error is not None:
                self._started.set_exception(error)
            else:
                self._started.set_exception(RuntimeError("the app returned without a response"))
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    # --- the client's side -----------------------------------------------------------

    @property
    def complete(self) -> bool:
        """Whether the app is done with the exchange (the body was sent whole and the
        app's after-response work ran, or the body was read to its end, or the client
        left); what is left of a body sent whole is still readable."""
        return self._closed

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk as the app sends it; ends when the app is done with
        the exchange (its errors, e.g. `wait_until` failures, are raised here)."""
        while not self._complete:
            self._release()  # the reader is back for more: the app may go on
            if self._box is None:
                if self._closed:
                    return  # the client left before the end

                task = self._task
                assert task is not None
                if task.done():
                    await self.finish()  # raises what the app raised
                    raise RuntimeError("the app finished without completing the response body")
                self._reader = asyncio.get_running_loop().create_future()
                await self._reader
                continue
            chunk, more = self._box
            self._box = None
            if not more:
                self._complete = True
            if chunk and not self._head:
                yield chunk
        await self.finish()

    def _release(self) -> None:
        """Let the app's `send` of the chunk last taken return."""
        if self._delivered is not None and self._box is None:
            self._delivered.set_result(None)
            self._delivered = None

    async def finish(self) -> None:
        """The client is done: let the app see it and wait for the app to end."""
        self._closed = True
        if not self._app_done.done():
            self._app_done.set_result(None)
        if self._box is not None and self._box[1]:
            self._box = None  # a chunk nobody will read: the client left
        delivered, self._delivered = self._delivered, None
        if delivered is not None and not delivered.done():
            # The app is in `send`: it learns the client left (if its disconnect watcher
            # has not cancelled it first, which marks the exception as seen).
            delivered.set_exception(ClientDisconnected("the client disconnected"))
            delivered.exception()
        task = self._task
        if task is not None:
            self._task = None
            await task

    async def aclose(self) -> None:
        """Leave before the end of the body (the app sees `http.disconnect`)."""
        await self.finish()


async def start(
    app: ASGIApp, scope: dict[str, Any], body: bytes | AsyncIterable[bytes] | None = None
) -> Exchange:
    """Send one request to `app`; returns once the response has started (status and
    headers known). A body the app sent whole is complete by then, and the app has
    finished with the exchange; a streamed one is read with `exchange.chunks()`."""
    exchange = Exchange(body, head=scope.get("method") == "HEAD")
    task = asyncio.ensure_future(app(scope, exchange.receive, exchange.send))
    exchange._task = task
    task.add_done_callback(exchange._on_app_done)
    try:
        await exchange._started
    except BaseException:
        exchange._task = None
        if not task.done():
            task.cancel()
        raise
    if exchange._box is not None and not exchange._box[1]:
        # A body sent whole: the app goes on to its after-response work (`wait_until`);
        # the exchange is over when it is done, as an HTTP client sees it.
        await exchange.finish()
    return exchange
