"""Listening sockets and uvicorn servers for `edge dev` (the worker's and the REST API's).

Sockets are bound here rather than by uvicorn so a port in use is a clear `DevError`
before anything starts, `--port 0` can pick a free port, and both servers share one event
loop whose signals `DevServer` owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from emulator.app import StreamAborted
from emulator.errors import EdgeError
from emulator.http_limits import BodyLimit, HttpLimits, LimitedHttpProtocol


class ServeError(EdgeError):
    """A socket cannot be bound; the message says which and why."""


class Server(uvicorn.Server):
    """uvicorn without its own signal handling: the caller owns SIGINT/SIGTERM for every
    server in the loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _DropAbortedStreams(logging.Filter):
    # A mid-stream failure was already shown by the app; uvicorn only needs to drop the
    # connection, not print the same traceback again.
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, StreamAborted)


def quiet_aborted_streams() -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropAbortedStreams) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(_DropAbortedStreams())


def bind(ip: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ip:port (port 0: the OS picks one)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((ip, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48):  # EADDRINUSE on Linux / macOS
            raise ServeError(
                f"{ip}:{port} is already in use; pass --port (0 picks a free one)"
            ) from exc
        raise ServeError(f"cannot listen on {ip}:{port}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


def is_loopback(name: str) -> bool:
    """`localhost`, a `*.localhost` name (RFC 6761), or a loopback IP (`127.0.0.1`, `[::1]`)."""
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def url_for(ip: str, port: int) -> str:
    if ip in ("0.0.0.0", "::"):
        return f"http://localhost:{port}"
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{port}"


async def serve(
    app: Any, sock: socket.socket, limits: HttpLimits | None = None
) -> tuple[Server, asyncio.Task[None]]:
    """Start serving `app` on `sock` under `limits` (default: Cloudflare's, Free plan);
    returns once uvicorn is accepting connections."""
    limits = limits or HttpLimits()
    if limits.max_body_bytes is not None:
        app = BodyLimit(app, limits.max_body_bytes)
    config = uvicorn.Config(
        app,
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        ws="none",  # WebSocket upgrades are not emulated; skip importing a ws library
        interface="asgi3",
        http=functools.partial(LimitedHttpProtocol, limits=limits),
        timeout_graceful_shutdown=1,
    )
    server = Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):  # bounded: uvicorn starts in milliseconds
        if server.started or task.done():
            break
        await asyncio.sleep(0.002)
    if task.done():
        task.result()  # re-raise why it could not start
    return server, task
