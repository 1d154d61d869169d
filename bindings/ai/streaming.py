"""Workers AI streams: an engine's text chunks framed as Cloudflare's server-sent events.

With `stream: true`, Cloudflare's `env.AI.run` returns a `text/event-stream` body:

    data: {"response":"Hel"}

    data: {"response":"lo"}

    data: {"response":"","usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}

    data: [DONE]

(compact JSON, non-ASCII as is: `JSON.stringify`'s output; the usage trailer with an
empty `response` before `[DONE]` is what live Workers AI streams end with, as recorded
verbatim in the fixtures and parsers of public Workers AI clients). `AiStream` produces
exactly that, and is both an async iterator of frame `bytes` (what `Response(stream,
...)` streams) and, through `chunks()`, of plain text plus a final `Usage` (for the
OpenAI-compatible endpoint).

Characters are never split across frames: `str` chunks are whole characters by
construction (a surrogate pair cut in two is rejoined), and `bytes` chunks, if an engine
yields them, go through an incremental UTF-8 decoder. An engine error after the stream
has started cannot become an HTTP status any more: it becomes a final frame
`event: error` / `data: {"error":"3043: ...","code":3043}` and the stream ends without
`[DONE]`, so a client can tell a cut stream from a finished one.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from bindings.ai.engines.base import ToolCall, Usage
from bindings.ai.errors import AiError, internal

log = logging.getLogger("edge.ai")

DONE = b"data: [DONE]\n\n"
_SURROGATE = re.compile("[\ud800-\udfff]")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def sse_frame(data: Any, event: str | None = None) -> bytes:
    """One SSE event: `data: <compact JSON>` and a blank line (`event:` first if given).
    The one frame writer: Workers AI streams and the OpenAI endpoint's chunks alike."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {_dumps(data)}\n\n".encode()


def text_frame(text: str) -> bytes:
    return b'data: {"response":' + _dumps(text).encode() + b"}\n\n"


def usage_frame(usage: Usage) -> bytes:
    return sse_frame({"response": "", "usage": usage.as_dict()})


def tool_calls_frame(calls: list[ToolCall]) -> bytes:
    """The frame carrying a reply's tool calls (`bindings.ai.tools`)."""
    listed = [{"name": call.name, "arguments": call.arguments} for call in calls]
    return sse_frame({"response": "", "tool_calls": listed})


def error_frame(error: AiError) -> bytes:
    return sse_frame({"error": str(error), "code": error.code}, event="error")


def as_ai_error(exc: BaseException) -> AiError:
    """Engine failures that are not `AiError` already become 3043 (internal error)."""
    if isinstance(exc, AiError):
        return exc
    return internal(f"Internal server error: {type(exc).__name__}: {exc}")


class _Text:
    """Turns engine chunks into whole-character `str` pieces (see the module docstring)."""

    __slots__ = ("_decoder", "_pending")

    def __init__(self) -> None:
        self._decoder = None
        self._pending = ""

    def feed(self, chunk: str | bytes) -> str:
        if isinstance(chunk, bytes | bytearray):
            if self._decoder is None:
                self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            chunk = self._decoder.decode(bytes(chunk))
        if self._pending:
            chunk, self._pending = self._pending + chunk, ""
        if chunk.isascii() or not _SURROGATE.search(chunk):
            return chunk
        if "\ud800" <= chunk[-1] <= "\udbff":  # a high surrogate whose pair comes next
            chunk, self._pending = chunk[:-1], chunk[-1]
        return chunk.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    def flush(self) -> str:
        tail = self._decoder.decode(b"", final=True) if self._decoder else ""
        tail, self._pending = self._pending + tail, ""
        if _SURROGATE.search(tail):
            tail = tail.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return tail


class AiStream:
    """The value `env.AI.run(..., {"stream": True})` returns; iterate it once, either way.

    `async for frame in stream` yields SSE frame bytes; `stream.chunks()` yields `str`
    chunks (and `ToolCall`s) then one `Usage` (errors raise `AiError` there).
    `await stream.aclose()` stops the engine (the HTTP client went away), and is safe to
    call at any time, repeatedly.
    """

    media_type = "text/event-stream"

    def __init__(self, source: AsyncIterator[Any], *, model: str = "", engine: str = "") -> None:
        self.model = model
        self.engine = engine
        self.usage: Usage | None = None
        self._started_at = time.perf_counter()
        self._source = source
        self._primed: list[Any] = []
        self._consumer: AsyncIterator[Any] | None = None
        self._closed = False

    async def start(self) -> AiStream:
        """Wait for the engine's first item, so failures before any token raise `AiError`
        from `run()` (as a failed request does on Cloudflare) instead of a 200 stream."""
        try:
            self._primed.append(await self._source.__anext__())
        except StopAsyncIteration:
            pass
        except BaseException as exc:
            await self.aclose()
            if isinstance(exc, Exception):
                raise as_ai_error(exc) from exc
            raise
        return self

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._claim()
        self._consumer = self._frames()
        return self._consumer

    def chunks(self) -> AsyncIterator[str | Usage]:
        self._claim()
        self._consumer = self._events()
        return self._consumer

    async def read_text(self) -> tuple[str, Usage]:
        """Consume the stream into the whole text and its usage (the non-streaming path)."""
        parts: list[str] = []
        usage = None
        async for item in self.chunks():
            if isinstance(item, Usage):
                usage = item
            elif isinstance(item, str):
                parts.append(item)
        assert usage is not None
        return "".join(parts), usage

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        consumer = self._consumer
        if consumer is not None:
            try:
                await consumer.aclose()
            except RuntimeError:  # being iterated by another task right now
                log.debug("AI stream for %s closed while running", self.model)
        await self._close_source()

    def _claim(self) -> None:
        if self._consumer is not None or self._closed:
            # Like a JS ReadableStream that is already locked or read.
            raise TypeError("this AI stream was already read (iterate it only once)")

    async def _raw(self) -> AsyncIterator[Any]:
        while self._primed:
            yield self._primed.pop(0)
        async for item in self._source:
            yield item

    async def _events(self) -> AsyncIterator[str | Usage]:
        text = _Text()
        usage = None
        pieces = 0
        try:
            async for item in self._raw():
                if isinstance(item, Usage):
                    usage = item
                    continue
                if isinstance(item, ToolCall):
                    yield item
                    continue
                piece = text.feed(item)
                if piece:
                    pieces += 1
                    yield piece
            tail = text.flush()
            if tail:
                pieces += 1
                yield tail
        except Exception as exc:
            raise as_ai_error(exc) from exc
        finally:
            await self._close_source()
        if usage is None:
            log.debug("engine for %s ended without usage; counting chunks", self.model)
            usage = Usage(prompt_tokens=0, completion_tokens=pieces)
        self.usage = usage
        log.info(
            "AI %s (%s, streamed): %d+%d tokens in %.2fs",
            self.model,
            self.engine or "engine",
            usage.prompt_tokens,
            usage.completion_tokens,
            time.perf_counter() - self._started_at,
        )
        yield usage

    async def _frames(self) -> AsyncIterator[bytes]:
        events = self._events()
        calls: list[ToolCall] = []
        try:
            async for item in events:
                if isinstance(item, ToolCall):
                    calls.append(item)
                    continue
                if calls:  # all of a reply's calls in one frame, as Cloudflare sends them
                    yield tool_calls_frame(calls)
                    calls = []
                if isinstance(item, Usage):
                    yield usage_frame(item)
                else:
                    yield text_frame(item)
        except AiError as exc:
            log.warning("AI stream for %s failed mid-stream: %s", self.model, exc)
            yield error_frame(exc)
            return
        finally:
            await events.aclose()
        yield DONE

    async def _close_source(self) -> None:
        closer = getattr(self._source, "aclose", None)
        if closer is not None:
            try:
                await closer()
            except Exception:  # a failing cleanup must not mask the stream's own outcome
                log.exception("closing the engine stream for %s failed", self.model)


async def collect(
    source: AsyncIterator[Any], *, model: str = "", calls: list[ToolCall] | None = None
) -> tuple[str, Usage]:
    """The whole text and usage of an engine generation (errors raise `AiError`); the
    `ToolCall`s it yields are appended to `calls` (dropped when it is None).

    The non-streaming path: the same normalization as `AiStream.chunks()`, without the
    generator layers (this is per call overhead of every `env.AI.run`).
    """
    text = _Text()
    parts: list[str] = []
    usage = None
    try:
        async for item in source:
            if isinstance(item, Usage):
                usage = item
            elif isinstance(item, ToolCall):
                if calls is not None:
                    calls.append(item)
            else:
                parts.append(text.feed(item))
        parts.append(text.flush())
    except Exception as exc:
        raise as_ai_error(exc) from exc
    finally:
        closer = getattr(source, "aclose", None)
        if closer is not None:
            await closer()
    if usage is None:
        log.debug("engine for %s ended without usage; counting chunks", model)
        usage = Usage(prompt_tokens=0, completion_tokens=sum(1 for part in parts if part))
    return "".join(parts), usage
