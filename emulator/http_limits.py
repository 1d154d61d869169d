"""Cloudflare's request limits on edge's listening ports, and timeouts for slow clients.

Cloudflare documents (https://developers.cloudflare.com/workers/platform/limits/,
"Request limits"): URLs up to 16 KB, request headers up to 128 KB in total, and a request
body limit set by the zone's plan (Free and Pro 100 MB, Business 200 MB, Enterprise
500 MB by default), refused with "413 Request entity too large". Its front line answers
in nginx's words with a `cloudflare` footer: `413 Request Entity Too Large`,
`414 Request-URI Too Large`, and `400 Bad Request` / `Request Header Or Cookie Too Large`
for oversized headers (as users quote it, e.g. guyellis/plant#1903). edge answers the
same statuses and pages, before the worker runs.

uvicorn bounds none of these (its httptools parser buffers any URL or header) and never
times out a request that is half sent. So:

- `LimitedHttpProtocol` (uvicorn's httptools protocol, subclassed) feeds the parser at
  most the head's limit, so a 64 MB header costs 144 KB; checks the URL and header
  sizes as they are parsed; closes a connection whose request head is not complete
  within `header_timeout` (including one that sends nothing: slowloris), and one whose
  body stalls for `body_timeout` while the app waits for it.
- `BodyLimit` (ASGI middleware) answers 413 when `Content-Length` says too much, and
  counts bytes as they arrive otherwise (chunked): past the limit the app sees the client
  leave (`http.disconnect`) and the client gets the 413, so no body is buffered whole.

`edge dev --max-body-size` picks the plan's body limit; `HttpLimits` holds the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["PLANS", "BodyLimit", "HttpLimits", "LimitedHttpProtocol", "error_page", "parse_size"]

KB = 1024
MB = 1024 * KB

#: Cloudflare plan -> request body limit (the Workers limits page).
PLANS = {"free": 100 * MB, "pro": 100 * MB, "business": 200 * MB, "enterprise": 500 * MB}

#: The request line's method, version and CRLFs, beyond the URL's and headers' limits.
_HEAD_SLACK = 8 * KB


@dataclass(frozen=True)
class HttpLimits:
    """Per-request limits; `max_body_bytes` None means no body limit (the REST API has
    its own, answered in its own error format)."""

    max_body_bytes: int | None = PLANS["free"]
    max_url_bytes: int = 16 * KB
    max_header_bytes: int = 128 * KB
    header_timeout: float = 10.0
    body_timeout: float = 30.0

    @property
    def max_head_bytes(self) -> int:
        return self.max_url_bytes + self.max_header_bytes + _HEAD_SLACK


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": KB, "m": MB, "g": 1024 * MB}


def parse_size(text: str) -> int | None:
    """`100MB`, `200 MiB`, `512k`, `1048576`, a plan name (`business`), or `0` / `none`
    (no limit, returned as None). Units are binary, as Cloudflare's MB are."""
    word = text.strip().lower()
    if word in PLANS:
        return PLANS[word]
    if word in ("0", "none", "unlimited"):
        return None
    match = _SIZE.match(word)
    if not match:
        plans = ", ".join(PLANS)
        raise ValueError(f"{text!r} is not a size (e.g. 100MB, 512KB) or a plan ({plans})")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "")[:1]])


def error_page(status: int, reason: str, detail: str | None = None) -> bytes:
    """Cloudflare's front-line error page (nginx's, with its `cloudflare` footer); a
    `detail` names the specific problem, as on nginx's 400 pages."""
    title = f"{status} {detail or reason}"
    lines = [f"<center><h1>{status} {reason}</h1></center>"]
    if detail:
        lines.append(f"<center>{detail}</center>")
    body = "\r\n".join(
        ["<html>", f"<head><title>{title}</title></head>", "<body>", *lines,
         "<hr><center>cloudflare</center>", "</body>", "</html>", ""]
    )
    return body.encode()


def _response(status: int, reason: str, detail: str | None = None) -> bytes:
    body = error_page(status, reason, detail)
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/html\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


URL_TOO_LONG = (414, "Request-URI Too Large", None)
HEADERS_TOO_LARGE = (400, "Bad Request", "Request Header Or Cookie Too Large")


#: How long a refused client may keep sending (discarded) after the answer went out.
LINGER_SECONDS = 2.0


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request edge refuses."""


class _LingeringTransport:
    """The connection's transport, except that `close()` while the client is still
    sending (a refused head, an unread body) shuts down writing first and discards what
    arrives for a moment: closing with unread data makes the kernel send a reset, which
    can destroy the 413 / 414 / 400 answer before the client reads it (nginx's
    "lingering close")."""

    def __init__(self, transport: asyncio.Transport, protocol: LimitedHttpProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.lingering = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self.lingering:  # as a closed transport does, writes after close() vanish
            self._transport.write(data)

    def close(self) -> None:
        if self.lingering or not self._protocol.client_still_sending():
            self._transport.close()
            return
        self.lingering = True
        with contextlib.suppress(OSError, RuntimeError):
            self._transport.resume_reading()
            if self._transport.can_write_eof():
                self._transport.write_eof()
        self._protocol.linger(LINGER_SECONDS)

    def hard_close(self) -> None:
        self._transport.close()


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `HttpLimits` on the request head and on slow
    clients (see the module docstring). Build it with `functools.partial(cls, limits=...)`
    as uvicorn's `http` setting."""

    def __init__(self, *args: Any, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._in_head = True
        self._head_bytes = 0
        self._url_bytes = 0
        self._header_bytes = 0
        self._url_done = False
        self._message_done = False
        self._refusal: tuple[int, str, str | None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lingering: _LingeringTransport | None = None

    # --- timeouts ---------------------------------------------------------------------

    def _arm(self, seconds: float, phase: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def client_still_sending(self) -> bool:
        """Whether the request on this connection has bytes edge has not read."""
        return self._refusal is not None or (not self._in_head and not self._message_done)

    def linger(self, seconds: float) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # what connection_lost tells an app still running
            cycle.message_event.set()
        self._arm(seconds, "linger")

    def _expired(self, phase: str) -> None:
        self._timer = None
        if self._lingering is None or self._lingering.lingering or phase == "linger":
            if self._lingering is not None:
                self._lingering.hard_close()
            return
        if self.transport.is_closing():
            return
        if phase == "body" and self.flow is not None and self.flow.read_paused:
            # the app is not reading yet: the client is not the slow one
            self._arm(self.limits.body_timeout, "body")
            return
        self.logger.debug("closing a connection whose request %s stalled", phase)
        self._lingering.hard_close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._lingering = _LingeringTransport(transport, self)
        super().connection_made(self._lingering)  # type: ignore[arg-type]
        self._arm(self.limits.header_timeout, "head")  # a connection that sends nothing

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # --- the request head -------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None or self.transport.is_closing():
            return  # lingering: discard
        if self._in_head:
            # the request line ends at the first newline: after it, only headers grow
            self._url_done = self._url_done or b"\n" in data[: self.limits.max_head_bytes]
            room = self.limits.max_head_bytes - self._head_bytes
            if len(data) > room:  # feed what fits: the parser then says where the head ends
                head, data = data[: max(room, 0)], data[max(room, 0) :]
                super().data_received(head)
                if self._in_head and self._refusal is None:
                    self._refuse(HEADERS_TOO_LARGE if self._url_done else URL_TOO_LONG)
                if self._refusal is not None or not data:
                    return
            else:
                self._head_bytes += len(data)
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        # A parser callback raised `_Refused`: answer Cloudflare's page, not uvicorn's 400.
        if self._refusal is not None:
            return
        super().send_400_response(msg)

    def _refuse(self, refusal: tuple[int, str, str | None]) -> None:
        if self._refusal is not None:
            return
        self._refusal = refusal
        self._disarm()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_response(*refusal))
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._message_done = False
        self._arm(self.limits.header_timeout, "head")

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_url_bytes:
            self._refuse(URL_TOO_LONG)
            raise _Refused
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._url_done = True
        self._header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_bytes > self.limits.max_header_bytes:
            self._refuse(HEADERS_TOO_LARGE)
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm(self.limits.body_timeout, "body")
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._arm(self.limits.body_timeout, "body")
        super().on_body(body)

    def on_message_complete(self) -> None:
        # the next bytes start a new head (counted before the parser sees them, so the
        # counters reset here rather than in on_message_begin)
        self._message_done = True
        self._in_head, self._url_done = True, False
        self._head_bytes = self._url_bytes = self._header_bytes = 0
        self._disarm()
        super().on_message_complete()



class BodyLimit:
    """ASGI middleware: Cloudflare's 413 for a request body over `max_bytes`."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.strip().isdigit():
                if int(value) > self.max_bytes:
                    await _send_413(send)
                    return
                break
        size = 0
        over = False
        started = False

        async def counted_receive() -> dict[str, Any]:
            nonlocal size, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    over = True  # the app sees the client leave; the client gets the 413
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: dict[str, Any]) -> None:
            nonlocal started
            if over and not started:
                return  # the 413 goes out instead of whatever the app answers
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, watched_send)
        if over and not started:
            await _send_413(send)


async def _send_413(send: Any) -> None:
    body = error_page(413, "Request Entity Too Large")
    headers = [
        (b"content-type", b"text/html"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
