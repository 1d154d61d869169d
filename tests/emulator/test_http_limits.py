"""Cloudflare's request limits and slow-client timeouts on edge's ports, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from emulator import serving
from emulator.http_limits import KB, MB, PLANS, HttpLimits, error_page, parse_size


class Recorder:
    """An ASGI app that reads the whole body and answers its size; remembers each call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.disconnects = 0

    async def __call__(self, scope, receive, send):
        self.calls.append(scope["path"])
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnects += 1
                return
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        answer = str(size).encode()
        length = [(b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": length})
        await send({"type": "http.response.body", "body": answer})


@contextlib.asynccontextmanager
async def running(limits: HttpLimits | None = None):
    app = Recorder()
    sock = serving.bind("127.0.0.1", 0)
    server, task = await serving.serve(app, sock, limits)
    try:
        yield app, sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def exchange(port: int, *parts: bytes, timeout: float = 10) -> bytes:
    """Send `parts` (stopping if the server closes), then read until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for part in parts:
            if reader.at_eof():
                break
            writer.write(part)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    except ConnectionError:
        return await reader.read()
    finally:
        writer.close()


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer else 0


# --- the defaults are Cloudflare's ---------------------------------------------------------


async def test_a_url_over_16_kb_is_414():
    async with running() as (app, port):
        tail = b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        fits = await exchange(port, b"GET /" + b"a" * (16 * KB - 10) + tail)
        long = await exchange(port, b"GET /" + b"a" * (16 * KB + 1) + tail)
    assert status(fits) == 200
    assert status(long) == 414
    assert long.endswith(error_page(414, "Request-URI Too Large"))
    assert b"<hr><center>cloudflare</center>" in long
    assert len(app.calls) == 1


@pytest.mark.parametrize(
    "headers",
    [
        b"X-Big: " + b"v" * (128 * KB) + b"\r\n",  # one header
        b"".join(b"X-%d: v\r\n" % i for i in range(20_000)),  # many small ones
    ],
)
async def test_headers_over_128_kb_are_cloudflares_400(headers):
    async with running() as (app, port):
        answer = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status(answer) == 400
    assert b"Request Header Or Cookie Too Large" in answer
    assert app.calls == []


async def test_a_64_mb_header_is_refused_after_the_limit_not_buffered():
    async with running() as (app, port):
        started = time.perf_counter()
        chunk = b"v" * (1 * MB)
        answer = await exchange(port, b"GET / HTTP/1.1\r\nX-Huge: ", *([chunk] * 64))
        elapsed = time.perf_counter() - started
    assert status(answer) == 400 and app.calls == []
    assert elapsed < 5  # refused once 144 KB arrived, not after 64 MB were parsed


async def test_a_declared_body_over_100_mb_is_413_before_the_app_runs():
    assert HttpLimits().max_body_bytes == 100 * MB
    async with running() as (app, port):
        answer = await exchange(
            port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (100 * MB + 1)
        )
    assert status(answer) == 413
    assert answer.endswith(error_page(413, "Request Entity Too Large"))
    assert app.calls == []


# --- bodies counted as they arrive ---------------------------------------------------------


def chunked(total: int, size: int = 64 * KB):
    chunk = b"%x\r\n" % size + b"b" * size + b"\r\n"
    return [chunk] * (total // size)


async def test_a_chunked_body_is_413_as_soon_as_it_passes_the_limit():
    limits = HttpLimits(max_body_bytes=1 * MB)
    async with running(limits) as (app, port):
        fits = await exchange(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n",
            *chunked(1 * MB),
            b"0\r\n\r\n",
        )
        # 64 MB offered: the answer comes once 1 MB has passed, the rest is never read
        started = time.perf_counter()
        over = await exchange(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            *chunked(64 * MB),
        )
        elapsed = time.perf_counter() - started
    assert status(fits) == 200 and fits.endswith(b"%d" % MB)
    assert status(over) == 413 and b"Request Entity Too Large" in over
    assert app.disconnects == 1  # the app saw the client leave, never the whole body
    assert elapsed < 10


@pytest.mark.parametrize(
    ("text", "size"),
    [("100MB", 100 * MB), ("business", 200 * MB), ("Enterprise", 500 * MB), ("512k", 512 * KB),
     ("1.5 MiB", int(1.5 * MB)), ("1048576", MB), ("0", None), ("none", None)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


def test_parse_size_refuses_nonsense():
    with pytest.raises(ValueError, match="plan"):
        parse_size("lots")
    assert PLANS["pro"] == PLANS["free"]


# --- slow clients ----------------------------------------------------------------------------


async def test_a_half_sent_request_head_is_closed_within_the_header_timeout():
    async with running(HttpLimits(header_timeout=0.3)) as (app, port):
        started = time.perf_counter()
        answer = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        silent = await exchange(port)  # connects and never sends a byte
        elapsed = time.perf_counter() - started
    assert answer == b"" and silent == b""
    assert elapsed < 3 and app.calls == []


async def test_a_trickled_head_does_not_reset_the_header_timeout():
    async with running(HttpLimits(header_timeout=0.5)) as (app, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n")
        started = time.perf_counter()
        with contextlib.suppress(ConnectionError):
            for i in range(40):  # one header every 0.1 s: each byte is "on time"
                if reader.at_eof():
                    break
                writer.write(b"X-%d: v\r\n" % i)
                await writer.drain()
                await asyncio.sleep(0.1)
        await asyncio.wait_for(reader.read(), 5)
        elapsed = time.perf_counter() - started
        writer.close()
    assert elapsed < 2.5 and app.calls == []


async def test_a_stalled_body_is_closed_within_the_body_timeout():
    async with running(HttpLimits(body_timeout=0.3)) as (app, port):
        started = time.perf_counter()
        answer = await exchange(
            port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"
        )
        elapsed = time.perf_counter() - started
    assert answer == b"" and elapsed < 3
    assert app.disconnects == 1


async def test_keep_alive_requests_are_not_cut_by_the_timeouts():
    async with running(HttpLimits(header_timeout=0.3, body_timeout=0.3)) as (app, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(3):
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert b" 200 " in head
            await asyncio.wait_for(reader.readexactly(1), 5)
            await asyncio.sleep(0.2)  # idle, but under each timeout
        writer.close()
    assert len(app.calls) == 3
