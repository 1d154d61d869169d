"""`from workers import wsgi`: serve a WSGI app (Django, Flask) from a Python Worker.

Mirrors Cloudflare's adapter (workers-py `packages/runtime-sdk/src/workers/wsgi.py`;
https://developers.cloudflare.com/changelog/2026-09-02-python-workers-web-framework-support/):

    app = get_wsgi_application()
    Default = wsgi.entrypoint(app)            # or, in your own class:
    return await wsgi.fetch(app, request, self.env)

- the environ follows PEP 3333 as Cloudflare builds it: `PATH_INFO` percent-decoded (a
  WSGI native string), `QUERY_STRING` as sent, `SERVER_NAME`/`SERVER_PORT` from the URL,
  `HTTP_*` headers (repeats joined with ","), `wsgi.multithread` False, and the worker's
  `env` under `"workers.env"`;
- `wsgi.input` reads the request body lazily; a body of known size also sets
  `CONTENT_LENGTH` when the request did not;
- the response streams: the first chunk is produced before the status line goes out (a
  WSGI app may call `start_response` that late), later chunks as the client reads;
  `write()` output comes first; `close()` is called once, whether the body ends, fails
  or the client leaves; an app error before the first chunk is the worker's error page.

The app itself runs in edge's thread pool, one request at a time per app, switching
only at `pyodide.ffi.run_sync` (see `emulator.ffi.blocking`), so the ORM can call async
bindings synchronously as it does on Cloudflare (django-cf's D1 backend).
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from emulator.ffi.blocking import call_blocking, run_sync
from emulator.sdk.entrypoints import WorkerEntrypoint
from emulator.sdk.headers import Headers
from emulator.sdk.request import Request, worker_request
from emulator.sdk.response import Response

__all__ = ["build_environ", "entrypoint", "fetch"]

log = logging.getLogger("wsgi")

NULL_BODY_STATUSES = frozenset({101, 103, 204, 205, 304})
_END = object()
# One lock per app: its synchronous code runs in one thread at a time (see module docstring).
_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def _lock_for(app: Any) -> threading.Lock | None:
    with _locks_guard:
        try:
            return _locks.setdefault(app, threading.Lock())
        except TypeError:  # not weak-referenceable (rare): no per-app serialisation
            return None


class _BodyReader(io.RawIOBase):
    """`wsgi.input` over the request's async body stream, pulled with `run_sync`."""

    def __init__(self, stream: AsyncIterator[bytes]) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._buffer and not self._eof:
            chunk = run_sync(anext(self._stream, None))
            if chunk is None:
                self._eof = True
            else:
                self._buffer.extend(chunk)
        count = min(len(buffer), len(self._buffer))
        buffer[:count] = self._buffer[:count]
        del self._buffer[:count]
        return count


def _native(text: str) -> str:
    # PEP 3333 "native strings": the UTF-8 bytes, one code point per byte
    return text.encode("utf-8").decode("latin-1")


def build_environ(request: Request, env: Any, wsgi_input: Any = None) -> dict[str, Any]:
    """The PEP 3333 environ for `request` (the body is read lazily unless given)."""
    url = urlsplit(request.url)
    if not url.scheme:
        raise ValueError(f"Request URL is not absolute: {request.url!r}")
    body = request._body
    known_length = None
    if wsgi_input is None:
        if body is None or isinstance(body, bytes):
            wsgi_input = io.BytesIO(body or b"")
            known_length = len(body) if body else None
            request._used = body is not None
        else:
            wsgi_input = io.BufferedReader(_BodyReader(request.body))  # type: ignore[arg-type]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": str(request.method),
        "SCRIPT_NAME": "",
        "PATH_INFO": _native(unquote(url.path or "/")),
        "QUERY_STRING": url.query,
        "SERVER_NAME": url.hostname or "localhost",
        "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme,
        "wsgi.input": wsgi_input,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "workers.env": env,
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            key = "HTTP_" + key
            environ[key] = environ[key] + "," + value if key in environ else value
    if "CONTENT_LENGTH" not in environ and known_length:
        environ["CONTENT_LENGTH"] = str(known_length)
    return environ


class _Call:
    """One WSGI call: `start_response`, `write()` and the app's iterable, driven from
    the thread pool step by step."""

    def __init__(self, app: Any, environ: dict[str, Any]) -> None:
        self.app = app
        self.environ = environ
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.written: list[bytes] = []
        self.result: Any = None
        self.iterator: Iterator[bytes] | None = None
        self.closed = False

    def start_response(self, status: str, headers: list, exc_info: Any = None) -> Callable:
        if exc_info is not None:
            try:
                if self.status is not None:  # too late to change the status: re-raise
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response() called more than once")
        self.status = status
        self.headers = list(headers)
        return self.write

    def write(self, chunk: bytes) -> None:
        if self.status is None:
            raise AssertionError("write() called before start_response()")
        if chunk:
            self.written.append(bytes(chunk))

    def start(self) -> Any:
        """Call the app and pull its first non-empty chunk (the status may come that late)."""
        try:
            self.result = self.app(self.environ, self.start_response)
            self.iterator = iter(self.result)
            first = self._next()
            if self.status is None:
                raise RuntimeError("The WSGI application did not call start_response()")
        except BaseException:
            self.close()
            raise
        if first is _END or _single(self.result):
            self.close()  # the whole body is known now: no more thread hops for it
        return first

    def _next(self) -> Any:
        assert self.iterator is not None
        for chunk in self.iterator:
            if chunk:
                return bytes(chunk)
        return _END

    def pull(self) -> Any:
        """The next chunk, or `_END` (then the iterable is closed)."""
        try:
            chunk = self._next()
        except BaseException:
            self.close()
            raise
        if chunk is _END:
            self.close()
        return chunk

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            close = getattr(self.result, "close", None)
            if close is not None:  # PEP 3333: the server must call it
                close()
        finally:
            try:
                self.environ["wsgi.input"].close()
            except Exception:
                log.exception("closing wsgi.input failed")


def _single(result: Any) -> bool:
    try:
        return len(result) == 1
    except TypeError:
        return False


async def fetch(app: Any, req: Any, env: Any, ctx: Any = None) -> Response:
    """Run the WSGI `app` for `req` and return its (streamed) `Response`."""
    request = worker_request(req, "wsgi.fetch()")
    log.debug("WSGI request: %s %s", request.method, request.url)
    call = _Call(app, build_environ(request, env))
    lock = _lock_for(app)
    first = await call_blocking(call.start, lock=lock)
    code, _, reason = str(call.status).partition(" ")
    status = int(code)
    headers = Headers()
    for name, value in call.headers:
        headers.append(name, value)  # append keeps every Set-Cookie
    if status in NULL_BODY_STATUSES:
        if not call.closed:
            await call_blocking(call.close, lock=lock)
        return Response(None, status, headers, reason)
    if call.closed:  # nothing left to pull
        chunks = [*call.written, *([] if first is _END else [first])]
        return Response(b"".join(chunks), status, headers, reason)
    return Response(_stream(call, first, lock), status, headers, reason)


async def _stream(call: _Call, first: Any, lock: threading.Lock | None) -> AsyncIterator[bytes]:
    try:
        for chunk in call.written:
            yield chunk
        if first is not _END:
            yield first
        while not call.closed:
            chunk = await call_blocking(call.pull, lock=lock)
            if chunk is _END:
                return
            yield chunk
    except Exception:
        log.exception("Exception while streaming the WSGI response body")
        raise
    finally:
        if not call.closed:  # the client left early
            await call_blocking(call.close, lock=lock)


def entrypoint(app: Any) -> type[WorkerEntrypoint]:
    """A `Default` entrypoint class serving `app` (`Default = wsgi.entrypoint(app)`)."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request: Request) -> Response:
            return await fetch(app, request, self.env, self.ctx)

    return Default
