"""`import asgi` / `from workers import asgi`: serve an ASGI app (FastAPI, Starlette).

Mirrors the ASGI server Cloudflare's Python runtime provides (workers-py
`packages/runtime-sdk/src/workers/asgi.py`, formerly workerd `src/pyodide/internal/asgi.py`;
https://developers.cloudflare.com/workers/languages/python/packages/fastapi/):

    async def fetch(self, request):
        import asgi
        return await asgi.fetch(app, request.js_object, self.env)   # or `request`

    Default = asgi.entrypoint(app)            # the newer form, `from workers import asgi`

What the app observes, as on Cloudflare:
- the scope has Cloudflare's keys only (`type`, `asgi` 3.0 / spec 2.0, `http_version`
  1.1, `method`, `scheme`, `path` percent-decoded, `raw_path`, `query_string`, lower-case
  `headers`, `state`) plus `env`, the worker's env (`request.scope["env"]`, `asgi.env` as
  a FastAPI dependency); no `client`, `server` or `root_path`;
- lifespan runs around every `fetch`: startup before the request, shutdown once the
  response is complete (after the last streamed chunk); `scope["state"]` is a shallow copy
  of what startup stored; apps without lifespan support are served anyway;
- the request body is handed over in chunks, then `http.disconnect` once the response is
  complete (or the client left);
- the response streams when the app sends `more_body=True` (chunks reach the client as
  they are sent, with backpressure), else it is one buffered body;
- an exception before the response starts raises out of `fetch` (the worker's error
  page); after it started, it is logged and the body ends there. FastAPI/Starlette catch
  errors themselves and answer their own 500 first, so there the client sees that 500.
WebSockets are not emulated (`asgi.websocket` raises `NotEmulatedError`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from emulator.errors import NotEmulatedError
from emulator.sdk.entrypoints import WorkerEntrypoint
from emulator.sdk.headers import Headers
from emulator.sdk.request import Request, worker_request
from emulator.sdk.response import Response

__all__ = ["ASGI", "entrypoint", "fetch", "request_to_scope", "websocket"]

log = logging.getLogger("asgi")  # Cloudflare's logger name

ASGI = {"spec_version": "2.0", "version": "3.0"}
NULL_BODY_STATUSES = frozenset({101, 103, 204, 205, 304})
_background: set[asyncio.Task[Any]] = set()  # strong references to running app tasks


def _spawn(coro: Any) -> asyncio.Task[Any]:
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


def request_to_scope(
    request: Request, env: Any, *, ws: bool = False, state: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ASGI connection scope Cloudflare builds for `request`."""
    url = urlsplit(request.url)
    scope = {
        "asgi": ASGI,
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in request.headers.items()
        ],
        "http_version": "1.1",
        "method": str(request.method),
        "scheme": url.scheme,
        "path": unquote(url.path or "/"),
        "raw_path": (url.path or "/").encode(),
        "query_string": url.query.encode(),
        "type": "websocket" if ws else "http",
        "env": env,
    }
    if state is not None:
        scope["state"] = dict(state)  # each request gets a shallow copy (ASGI lifespan spec)
    return scope


class _Lifespan:
    """One lifespan startup/shutdown cycle of `app` (optional in ASGI: tolerated when absent)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.supported = False
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._started: asyncio.Future[bool] = loop.create_future()
        self._stopped: asyncio.Future[None] = loop.create_future()

    async def startup(self) -> None:
        """Send `lifespan.startup`; raises RuntimeError when the app reports a failure."""
        self._inbox.put_nowait({"type": "lifespan.startup"})
        _spawn(self._run())
        self.supported = await self._started

    async def shutdown(self) -> None:
        if not self.supported:
            return
        self.supported = False
        self._inbox.put_nowait({"type": "lifespan.shutdown"})
        await self._stopped

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": ASGI, "state": self.state}
        try:
            await self.app(scope, self._inbox.get, self._send)
        except Exception as exc:
            if not self._started.done():
                # ASGI: raising before startup completes means "no lifespan support"
                log.debug("ASGI lifespan raised before startup; serving without it",
                          exc_info=exc)
                self._started.set_result(False)
                return
            log.exception("Exception in ASGI lifespan application")
        if not self._started.done():
            self._started.set_result(False)
        if not self._stopped.done():
            self._stopped.set_result(None)

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        failed = message.get("message") or "ASGI lifespan {} failed"
        if kind == "lifespan.startup.complete":
            _settle(self._started, True)
        elif kind == "lifespan.startup.failed":
            _fail(self._started, RuntimeError(failed.format("startup")))
        elif kind == "lifespan.shutdown.complete":
            _settle(self._stopped, None)
        elif kind == "lifespan.shutdown.failed":
            _fail(self._stopped, RuntimeError(failed.format("shutdown")))
        else:
            raise RuntimeError(f"Unexpected lifespan event {kind}")


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class _Exchange:
    """One HTTP request through the app: its `receive`, its `send`, and the Response."""

    def __init__(self, request: Request, finalize: Callable[[], Awaitable[None]]) -> None:
        self.request = request
        self.finalize = finalize  # runs once a streamed body ends or is abandoned
        self.chunks = request.body if request.body is not None else None
        self.body_done = False
        self.finished = asyncio.Event()  # the response is complete, or the client left
        loop = asyncio.get_running_loop()
        self.response: asyncio.Future[Response] = loop.create_future()
        self.status = 200
        self.headers = Headers()
        self.queue: asyncio.Queue[bytes | None] | None = None  # set once streaming
        self.abandoned = False

    async def receive(self) -> dict[str, Any]:
        if not self.body_done:
            chunk = await anext(self.chunks, None) if self.chunks is not None else None
            if chunk is not None:
                return {"type": "http.request", "body": chunk, "more_body": True}
            self.body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.finished.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = Headers(
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ())]
            )
            return
        if kind != "http.response.body":
            return
        if self.finished.is_set():
            raise OSError("the client disconnected")  # what writing to a closed stream does
        body = bytes(message.get("body", b""))
        more = message.get("more_body", False)
        if self.queue is not None:
            await self.queue.put(body)
            if not more:
                await self.queue.put(None)
                self.finished.set()
        elif more:
            self.queue = asyncio.Queue(maxsize=1)  # backpressure: one chunk in flight
            await self.queue.put(body)
            _settle(self.response, Response(self._stream(), self.status, self.headers))
        else:
            payload = None if self.status in NULL_BODY_STATUSES else body
            _settle(self.response, Response(payload, self.status, self.headers))
            self.finished.set()

    async def _stream(self) -> AsyncIterator[bytes]:
        assert self.queue is not None
        complete = False
        try:
            while True:
                chunk = await self.queue.get()
                if chunk is None:
                    complete = True
                    return
                if chunk:
                    yield chunk
        finally:
            if not complete:  # the client left: the app now sees http.disconnect
                self.abandoned = True
                self.finished.set()
            await self.finalize()

    def end(self) -> None:
        """The app stopped: a stream it left open ends where it stopped."""
        if self.queue is not None and not self.finished.is_set():
            self.finished.set()
            try:
                self.queue.put_nowait(None)
            except asyncio.QueueFull:  # the consumer has one chunk to take first
                _spawn(self.queue.put(None))


async def fetch(app: Any, req: Any, env: Any, ctx: Any = None) -> Response:
    """Serve `req` with the ASGI `app`; returns the worker's `Response`."""
    request = worker_request(req, "asgi.fetch()")
    log.debug("ASGI request: %s %s", request.method, request.url)
    lifespan = _Lifespan(app)
    await lifespan.startup()

    async def finish() -> None:
        # Cloudflare's finaliser (kept alive with wait_until): the app, then shutdown.
        if exchange.abandoned and not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await lifespan.shutdown()

    exchange = _Exchange(request, finish)
    scope = request_to_scope(request, env, state=lifespan.state)

    async def run_app() -> None:
        try:
            await app(scope, exchange.receive, exchange.send)
            if not exchange.response.done():
                raise RuntimeError("The application did not generate a response")
        except Exception as exc:
            if not exchange.response.done():
                exchange.response.set_exception(exc)
            else:
                log.exception("Exception in ASGI application after response started")
        finally:
            exchange.end()

    task = _spawn(run_app())
    try:
        response = await exchange.response
    except BaseException:
        await finish()
        raise
    if exchange.queue is None:  # buffered: the request is over
        await finish()
    return response


async def websocket(app: Any, req: Any, env: Any = None) -> Response:
    raise NotEmulatedError(
        "asgi.websocket(): WebSockets (WebSocketPair) are not emulated by edge; "
        "serve HTTP routes with asgi.fetch()"
    )


def entrypoint(app: Any) -> type[WorkerEntrypoint]:
    """A `Default` entrypoint class serving `app` (`Default = asgi.entrypoint(app)`)."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request: Request) -> Response:
            if (request.headers.get("upgrade") or "").lower() == "websocket":
                return await websocket(app, request, self.env)
            return await fetch(app, request, self.env, self.ctx)

    return Default


def __getattr__(name: str) -> Any:
    if name == "env":  # `env = asgi.env` as a FastAPI dependency, as in Cloudflare's module
        from fastapi import Depends
        from fastapi import Request as FastAPIRequest

        async def env(request: FastAPIRequest) -> Any:
            return request.scope["env"]

        # this module's annotations are strings FastAPI cannot resolve here: give it the class
        env.__annotations__ = {"request": FastAPIRequest}
        return Depends(env)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
