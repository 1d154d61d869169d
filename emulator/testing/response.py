"""`TestResponse`: what `TestWorker.fetch` returns -- the worker's response, as a client sees it.

It reads the response `edge dev`'s ASGI app sent (`emulator.testing.driver`): the same
status line, headers (`content-length` on a body sent whole) and body an HTTP client
gets. Read the body whole (`await r.text()`, `await r.json()`, `await r.bytes()`;
repeatable, like httpx) or incrementally as the worker produces it (`async for chunk in
r.iter_bytes()`, `r.iter_text()`, `r.iter_lines()`, `r.iter_sse()`). Reading the body to
its end also finishes the request: `ctx.wait_until` work is awaited then (as `edge dev`
does after the last chunk went out), and its failure is raised there. Leaving early
(`aclose()`, `async with`) is a client going away: the app closes the worker's producer.
"""

from __future__ import annotations

import codecs
import http
import json as jsonlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from emulator import errorpage
from emulator.app import StreamAborted
from emulator.sdk import Headers
from emulator.testing.driver import Exchange

__all__ = ["SSEEvent", "TestResponse"]


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return jsonlib.loads(self.data)


class TestResponse:
    """The worker's response. `status`, `headers` (case-insensitive), the body readers."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        exchange: Exchange,
        *,
        url: str,
        on_done: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        self.url = url
        self.status: int = exchange.status
        self.headers: Headers = Headers.from_raw(exchange.headers)
        self._exchange = exchange
        self._content: bytes | None = None
        self._on_done = on_done
        self._streaming = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def status_text(self) -> str:
        """The reason phrase a client sees (`edge dev` sends the standard one)."""
        try:
            return http.HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    @property
    def streamed(self) -> bool:
        """Whether the worker streamed its body (an async iterable, an AI stream) rather
        than returning it whole."""
        return self._exchange.streamed

    # --- the whole body ----------------------------------------------------------------

    async def bytes(self) -> bytes:
        __tracebackhide__ = True
        if self._content is None:
            parts = [chunk async for chunk in self.iter_bytes()]
            self._content = b"".join(parts)
        return self._content

    async def text(self) -> str:
        __tracebackhide__ = True
        return (await self.bytes()).decode(_charset(self.headers), errors="replace")

    async def json(self) -> Any:
        __tracebackhide__ = True
        text = await self.text()
        try:
            return jsonlib.loads(text)
        except ValueError as exc:
            shown = text if len(text) <= 200 else text[:200] + "..."
            raise AssertionError(
                f"the response body is not JSON ({exc}); status {self.status}, "
                f"content-type {self.headers.get('content-type')!r}, body: {shown!r}"
            ) from None

    # --- incrementally -----------------------------------------------------------------

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk, as the worker yields it (a read body yields it whole)."""
        __tracebackhide__ = True
        if self._content is not None:
            if self._content:
                yield self._content
            return
        if self._streaming:
            raise RuntimeError("the response body is already being read")
        self._streaming = True
        parts: list[bytes] = []
        try:
            async for chunk in self._exchange.chunks():
                parts.append(chunk)
                yield chunk
            self._content = b"".join(parts)
        except Exception as exc:
            # The worker's body generator (or its wait_until work) failed: raise its own
            # exception, with the worker's frames only (edge dev would drop the connection).
            failure = exc.__cause__ if isinstance(exc, StreamAborted) and exc.__cause__ else exc
            context = failure.__context__
            try:
                raise failure
            except BaseException:
                errorpage.trim_internal(failure)
                failure.__context__ = context
                raise
        finally:
            self._streaming = False
            if self._content is None:
                await self._exchange.aclose()  # stop the producer, like a client leaving
        await self._finish()

    async def iter_text(self) -> AsyncIterator[str]:
        """The body as text, decoded incrementally (characters are never split)."""
        __tracebackhide__ = True
        decoder = codecs.getincrementaldecoder(_charset(self.headers))(errors="replace")
        async for chunk in self.iter_bytes():
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    async def iter_lines(self) -> AsyncIterator[str]:
        """The body line by line (without line endings), as lines complete."""
        __tracebackhide__ = True
        pending = ""
        async for text in self.iter_text():
            pending += text
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line.removesuffix("\r")
        if pending:
            yield pending

    async def iter_sse(self) -> AsyncIterator[SSEEvent]:
        """Server-sent events, each as soon as its blank line arrives (Workers AI streams:
        `event.json()["response"]`, and a last event whose `data` is `[DONE]`). Parsed by
        httpx-sse; the response must be `text/event-stream`, as Workers AI's are."""
        __tracebackhide__ = True
        import httpx
        from httpx_sse import EventSource

        class Stream(httpx.AsyncByteStream):
            def __init__(self, chunks: Any) -> None:
                self.chunks = chunks

            def __aiter__(self) -> AsyncIterator[bytes]:
                return self.chunks

            async def aclose(self) -> None:
                await self.chunks.aclose()

        stream = Stream(self.iter_bytes())
        view = httpx.Response(self.status, headers=self.headers.raw(), stream=stream)
        async for event in EventSource(view).aiter_sse():
            yield SSEEvent(event.data, event.event, event.id or None, event.retry)

    async def aclose(self) -> None:
        """Stop reading a streamed body: the app sees the client leave and closes the
        worker's producer; then the request finishes."""
        __tracebackhide__ = True
        if self._content is None:
            self._content = b""
            await self._exchange.aclose()
        await self._finish()

    async def __aenter__(self) -> TestResponse:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        __tracebackhide__ = True
        await self.aclose()

    async def _finish(self) -> None:
        __tracebackhide__ = True
        done, self._on_done = self._on_done, None
        if done is not None:
            result = done()
            if result is not None:
                await result

    def __repr__(self) -> str:
        kind = self.headers.get("content-type") or "no content-type"
        return f"<TestResponse {self.status} {kind}>"


def _charset(headers: Headers) -> str:
    content_type = headers.get("content-type") or ""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            name = value.strip('"')
            try:
                codecs.lookup(name)
            except LookupError:
                break
            return name
    return "utf-8"
