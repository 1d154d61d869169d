"""The ASGI app `edge dev` serves: every HTTP request goes to the current worker.

It is the only code that turns an HTTP request into a worker call and back: `edge dev`
serves it with uvicorn, the test harness drives the same app in-process
(`emulator.testing.driver`), so a worker behaves the same in both. Two hooks exist for
in-process drivers: `raise_errors` (the worker's exception propagates out of the ASGI
call, instead of the error page) and `drain` (how `ctx.wait_until` work is waited for).

Kept to a raw ASGI callable on purpose: the per-request path is the hot loop of the dev
server (hello world at thousands of requests per second), so it builds one
`workers.Request`, awaits the worker and writes the `workers.Response` straight to the
ASGI `send`, with no router or middleware stack in between (uvicorn serves it; the
error page lives in `emulator.errorpage`).

Behaviour copied from `wrangler dev` (Miniflare):
- request bodies are streamed in lazily; response bodies stream out chunk by chunk,
  never buffered;
- an uncaught exception becomes a 500 pretty error page (HTML when the client accepts
  it, else JSON or plain text) and a traceback in the terminal;
- `ctx.wait_until()` work runs after the response is sent;
- with `--test-scheduled`, `/__scheduled?cron=...` and `/cdn-cgi/handler/scheduled`
  run the scheduled handler (https://developers.cloudflare.com/workers/configuration/cron-triggers/).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from emulator import cputime, errorpage
from emulator.context import ExecutionContext
from emulator.cputime import CpuMeter, metered
from emulator.disconnect import ClientWatch, has_body
from emulator.scheduled import ScheduledController
from emulator.sdk import Request, Response

log = logging.getLogger("edge.app")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: Wrangler's two paths for running the scheduled handler under `--test-scheduled`.
SCHEDULED_PATHS = frozenset({"/__scheduled", "/cdn-cgi/handler/scheduled"})

#: (method, path, status, duration in ms, note, CPU ms) -> None; note is "" or e.g.
#: "client closed"; CPU ms is the handler's own CPU time (`emulator.cputime`).
RequestLogger = Callable[[str, str, int, float, str, float], None]
#: (exception, method, url) -> None: shows an uncaught worker exception to the developer.
ErrorReporter = Callable[[BaseException, str, str], None]
#: (ctx, raise_errors) -> awaits an event's `wait_until` work; `raise_errors` is True when
#: its outcome counts (a cron run), False after a response went out (failures are logged).
Drainer = Callable[[ExecutionContext, bool], Awaitable[None]]


class StreamAborted(Exception):
    """Raised to the server after a streamed body failed mid-way, so it drops the connection
    (the only honest signal left once the status line has gone out)."""


class EdgeApp:
    """ASGI app dispatching every request to `get_worker()`, evaluated per request so a
    reloader can swap the worker atomically between requests."""

    def __init__(
        self,
        get_worker: Callable[[], Any],
        *,
        test_scheduled: bool = False,
        log_request: RequestLogger | None = None,
        report_error: ErrorReporter | None = None,
        raise_errors: bool = False,
        drain: Drainer | None = None,
        cpu_limit_ms: float | None = None,
    ) -> None:
        self.get_worker = get_worker
        #: `[limits] cpu_ms`: requests over it are warned about (`emulator.cputime`)
        self.cpu_limit_ms = cpu_limit_ms
        self.test_scheduled = test_scheduled
        self.log_request = log_request
        self.report_error = report_error or _log_error
        self.raise_errors = raise_errors
        self.drain = drain or _drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            # WebSocket upgrades (WebSocketPair) are not emulated yet: refuse the handshake.
            await receive()
            await send({"type": "websocket.close", "code": 1003})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers = scope["headers"]
        client = ClientWatch(receive, body=has_body(headers))
        request = Request.from_asgi(scope, client.receive)
        method, url = request.method, request.url
        ctx = ExecutionContext()
        status, note = 500, ""
        failure: BaseException | None = None
        meter = CpuMeter()
        # the client leaving cancels the worker (its `ctx.wait_until` work excepted)
        client.watch()
        try:
            worker = self.get_worker()
            if self.test_scheduled and scope["path"] in SCHEDULED_PATHS:
                response = await self._scheduled(worker, scope, ctx)
            else:
                response = await metered(worker.fetch(request, ctx), meter)
            status = response.status
        except asyncio.CancelledError:
            if not client.absorb():
                raise
            status, note = 499, "client closed"
        except Exception as exc:
            if client.gone:  # the client left while the worker read its body
                status, note = 499, "client closed"
            elif self.raise_errors:
                failure = errorpage.trim_internal(exc)
            else:
                errorpage.trim_internal(exc)
                self._report(exc, method, url)
                status = await _send_error(send, exc, method, url, headers)
        else:
            note, failure = await self._send_response(response, client, send)
        finally:
            client.unwatch()
            cpu_ms = meter.ms
            if self.log_request is not None:
                elapsed = (time.perf_counter() - started) * 1000
                self.log_request(method, scope["path"], status, elapsed, note, cpu_ms)
            if self.cpu_limit_ms is not None and cpu_ms > self.cpu_limit_ms:
                cputime.warn_over_limit(method, scope["path"], cpu_ms, self.cpu_limit_ms)
        # after the response went out, like waitUntil() on Cloudflare
        await self.drain(ctx, False)
        if failure is None:
            return
        if self.raise_errors:
            raise failure
        self._report(failure, method, url)
        raise StreamAborted(f"the response body of {method} {url} failed mid-stream") from failure

    async def _send_response(
        self, response: Any, client: ClientWatch, send: Send
    ) -> tuple[str, BaseException | None]:
        """Send `response`; returns the log note and the body's failure, if it failed
        after the status line went out (the caller reports it once `wait_until` ran)."""
        status = response.status
        headers = response.headers.raw()
        fixed = response.fixed_body
        if fixed is not None:
            if status not in (204, 304) and not response.headers.has("content-length"):
                headers.append((b"content-length", str(len(fixed)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": fixed})
            return "", None
        await send({"type": "http.response.start", "status": status, "headers": headers})
        client.start()  # a client leaving mid-stream must stop the producer at once
        failure: BaseException | None = None
        try:
            async for chunk in response.body_iter():
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except asyncio.CancelledError:
            if not client.absorb():
                raise
        except Exception as exc:  # the body generator failed after the status line went out
            if not client.gone:  # (an echoed request body ends when its client leaves)
                failure = exc
        if client.gone or failure is not None:
            # stop upstream generation (an LLM stream, a proxied fetch) right away
            try:
                await response.aclose()
            except Exception as exc:
                log.debug("closing the response body failed: %r", exc)
        if failure is not None:
            return "", errorpage.trim_internal(failure)
        return ("client closed" if client.gone else ""), None

    def _report(self, exc: BaseException, method: str, url: str) -> None:
        try:
            self.report_error(exc, method, url)
        except Exception:  # showing the error must never turn into a second one
            log.exception("could not report the uncaught exception of %s %s", method, url)

    async def _scheduled(self, worker: Any, scope: Scope, ctx: ExecutionContext) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        when = query.get("time", [None])[0]
        if not worker.has_scheduled:
            return Response(
                f"{worker.name} has no scheduled handler: define Default.scheduled() or"
                " a module-level on_scheduled()",
                status=404,
                headers={"content-type": "text/plain; charset=utf-8"},
            )
        await self.run_scheduled(
            query.get("cron", [""])[0], float(when) if when else None, worker=worker, ctx=ctx
        )
        return Response(
            "Ran scheduled event", headers={"content-type": "text/plain; charset=utf-8"}
        )

    async def run_scheduled(
        self,
        cron: str = "",
        scheduled_time: float | None = None,
        *,
        worker: Any = None,
        ctx: ExecutionContext | None = None,
    ) -> ScheduledController:
        """Run the scheduled handler once, as a cron trigger does, and its `wait_until`
        work: Cloudflare waits for it before it records a cron run's outcome. Returns
        the controller (`retry`: whether `noRetry()` was called); worker errors raise.
        `scheduled_time` is in milliseconds since the epoch (default: now)."""
        worker = worker if worker is not None else self.get_worker()
        ctx = ctx if ctx is not None else ExecutionContext()
        when = time.time() * 1000 if scheduled_time is None else float(scheduled_time)
        controller = ScheduledController(cron, when)
        try:
            await worker.scheduled(controller, ctx)
        except Exception:
            await self.drain(ctx, False)
            raise
        await self.drain(ctx, True)
        return controller


async def _send_error(
    send: Send, exc: BaseException, method: str, url: str, headers: list[tuple[bytes, bytes]]
) -> int:
    accept = ""
    for name, value in headers:
        if name == b"accept":
            accept = value.decode("latin-1")
            break
    try:
        status, content_type, payload = errorpage.render(
            exc,
            method=method,
            url=url,
            accept=accept,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
        )
    except Exception:  # e.g. a broken template: the plain traceback still helps
        log.exception("rendering the error page failed")
        status, content_type = 500, "text/plain; charset=utf-8"
        payload = errorpage.plain_text(exc, method=method, url=url).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
    return status


async def _drain(ctx: ExecutionContext, raise_errors: bool) -> None:
    await ctx.drain(raise_errors=raise_errors)


def _log_error(exc: BaseException, method: str, url: str) -> None:
    log.error("uncaught exception in %s %s", method, url, exc_info=exc)


def create_app(get_worker: Callable[[], Any], **options: Any) -> EdgeApp:
    """The worker's ASGI app. `get_worker` is called once per request (hot reload swaps it);
    `options` are `EdgeApp`'s."""
    return EdgeApp(get_worker, **options)
