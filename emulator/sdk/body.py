"""The body mixin `Request` and `Response` share: one-shot reading, lazy streams, `clone()`.

As in the Fetch standard (https://fetch.spec.whatwg.org/#body-mixin), a body is read once:
`text()`, `json()`, `bytes()`/`arrayBuffer()` and `form_data()`/`formData()` each consume
it, and a second read raises `BodyUsedError` ("Body already used"). That error is a
`TypeError` as in JavaScript and also an `OSError`, which is what Cloudflare's Python SDK
raises, so `except` clauses written for either keep working.

A body is held as given: `bytes` stay `bytes` (no copy), streams (async iterables) are
only pulled when read; `clone()` splits a stream into two lazily buffered branches.
"""

from __future__ import annotations

import asyncio
import json as _json
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

from emulator.ffi.values import JsBuffer
from emulator.sdk.attrdict import AttrDict
from emulator.sdk.formdata import FormData, parse_form_data
from emulator.sdk.headers import Headers

__all__ = ["BodyMixin", "BodyUsedError"]


class BodyUsedError(TypeError, OSError):
    """The body was already read (or is being streamed)."""


class _Tee:
    """One source stream read by several branches, each seeing every chunk once."""

    def __init__(self, source: AsyncIterable[bytes]) -> None:
        self._source = source.__aiter__()
        self._queues: list[deque[bytes]] = []
        self._done = False
        self._lock = asyncio.Lock()

    def branch(self, start_from: Iterable[bytes] = ()) -> _Branch:
        queue: deque[bytes] = deque(start_from)
        self._queues.append(queue)
        return _Branch(self, queue)

    async def read(self, queue: deque[bytes]) -> AsyncIterator[bytes]:
        while True:
            if queue:
                yield queue.popleft()
                continue
            if self._done:
                return
            # Branches may be read from concurrent tasks; only one pulls the source at once.
            async with self._lock:
                if queue or self._done:
                    continue
                try:
                    chunk = await self._source.__anext__()
                except StopAsyncIteration:
                    self._done = True
                    return
                for other in self._queues:
                    if other is not queue:
                        other.append(chunk)
            yield chunk


class _Branch:
    """An async iterable over one branch of a `_Tee` (kept so it can be cloned again)."""

    __slots__ = ("queue", "tee")

    def __init__(self, tee: _Tee, queue: deque[bytes]) -> None:
        self.tee = tee
        self.queue = queue

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.tee.read(self.queue)


def as_bytes(chunk: Any) -> bytes:
    """A stream chunk as bytes: str is UTF-8 encoded, buffers are copied once."""
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, str):
        return chunk.encode()
    if isinstance(chunk, bytes | bytearray | memoryview):
        return bytes(chunk)
    raise TypeError(f"body stream yielded {type(chunk).__name__}; expected bytes or str")


async def sync_to_async(items: Iterable[Any]) -> AsyncIterator[bytes]:
    """A sync iterable of bytes/str as an async stream of bytes (closed with it)."""
    iterator = iter(items)
    try:
        for item in iterator:
            yield as_bytes(item)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


class BodyMixin:
    """Body state and readers; subclasses set `_body`, `_used` and `headers`."""

    __slots__ = ()

    _body: bytes | AsyncIterable[Any] | None
    _used: bool
    headers: Headers

    @property
    def body_used(self) -> bool:
        return self._used

    @property
    def bodyUsed(self) -> bool:
        return self._used

    @property
    def fixed_body(self) -> bytes | None:
        """The whole body when it is not streamed (b"" for none), else None: for servers
        and clients, to send it whole with a content-length. Does not consume it."""
        body = self._body
        if body is None:
            return b""
        return body if isinstance(body, bytes) else None

    @property
    def body(self) -> AsyncIterator[bytes] | None:
        """The body as an async iterator of bytes (JavaScript's `ReadableStream`), or None."""
        if self._body is None:
            return None
        return self._stream()

    def _take(self) -> bytes | AsyncIterable[Any] | None:
        if self._used:
            raise BodyUsedError("Body already used")
        self._used = True
        return self._body

    async def _stream(self) -> AsyncIterator[bytes]:
        body = self._take()
        if body is None:
            return
        if isinstance(body, bytes):
            if body:
                yield body
            return
        try:
            async for chunk in body:  # type: ignore[union-attr]
                yield as_bytes(chunk)
        finally:
            # Closing this stream closes its producer too (`async for` alone would not), so
            # a body passed on (`Response(upstream.body)`) still stops its upstream.
            closer = getattr(body, "aclose", None)
            if closer is not None:
                await closer()

    async def bytes(self) -> bytes:
        body = self._take()
        if body is None:
            return b""
        if isinstance(body, bytes):
            return body
        return b"".join([as_bytes(chunk) async for chunk in body])  # type: ignore[union-attr]

    async def arrayBuffer(self) -> JsBuffer:
        """The body as JavaScript's ArrayBuffer: bytes that also answer `.to_bytes()`."""
        return JsBuffer(await self.bytes())

    buffer = arrayBuffer  # Pyodide's FetchResponse name

    @property
    def js_object(self) -> Any:
        """The JavaScript object behind this one (`request.js_object`): edge's `Request`
        and `Response` already speak the JavaScript API, so it is the object itself."""
        return self

    async def text(self) -> str:
        # JavaScript's TextDecoder replaces malformed UTF-8 rather than failing.
        return (await self.bytes()).decode("utf-8", errors="replace")

    async def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON; objects allow attribute access, as through Pyodide."""
        kwargs.setdefault("object_hook", AttrDict)
        return _json.loads(await self.bytes(), **kwargs)

    async def form_data(self) -> FormData:
        content_type = self.headers.get("content-type") or ""
        return parse_form_data(content_type, await self.bytes())

    formData = form_data

    def _clone_body(self) -> bytes | AsyncIterable[Any] | None:
        """A body for a clone; a stream is split so both copies can be read lazily."""
        if self._used:
            raise BodyUsedError("Body already used")
        body = self._body
        if body is None or isinstance(body, bytes):
            return body
        if isinstance(body, _Branch):
            return body.tee.branch(body.queue)
        source = body if hasattr(body, "__aiter__") else sync_to_async(body)  # type: ignore[arg-type]
        tee = _Tee(source)  # type: ignore[arg-type]
        self._body = tee.branch()
        return tee.branch()

