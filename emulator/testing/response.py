"""`TestResponse`: what `TestWorker.fetch` returns -- the worker's response, as a client sees it.

Read the body whole (`await r.text()`, `await r.json()`, `await r.bytes()`; repeatable,
like httpx) or incrementally as the worker produces it (`async for chunk in
r.iter_bytes()`, `r.iter_text()`, `r.iter_sse()`). Reading the body to its end also
finishes the request: `ctx.wait_until` work is awaited then (as `edge dev` does after the
last chunk went out), and its failure is raised there.
"""

from __future__ import annotations

import codecs
import json as jsonlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from emulator import errorpage
from emulator.sdk import Headers

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
        response: Any,
        *,
        url: str,
        on_done: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.raw = response  # the workers.Response the handler returned
        self.url = url
        self.status: int = response.status
        self.status_text: str = response.status_text
        self.headers: Headers = response.headers
        self._content: bytes | None = response.fixed_body
        self._on_done = on_done
        self._streaming = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def streamed(self) -> bool:
        """Whether the worker returned a streamed body (an async iterable, an AI stream)."""
        return self.raw.fixed_body is None and self.raw._body is not None

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
        finished = False
        try:
            async for chunk in self.raw.body_iter():
                if chunk:
                    parts.append(chunk)
                    yield chunk
            finished = True
        except Exception as exc:  # the worker's body generator failed: show its frames
            errorpage.trim_internal(exc)
            raise
        finally:
            if not finished:
                await self.raw.aclose()  # stop the producer (an AI stream), like a client leaving
            else:
                self._content = b"".join(parts)
            self._streaming = False
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
        `event.json()["response"]`, and a last event whose `data` is `[DONE]`)."""
        __tracebackhide__ = True
        fields: dict[str, Any] = {}
        data: list[str] = []
        async for line in self.iter_lines():
            if not line:
                if data:
                    yield SSEEvent("\n".join(data), **fields)
                fields, data = {}, []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name == "event":
                fields["event"] = value
            elif name == "id":
                fields["id"] = value
            elif name == "retry" and value.isdigit():
                fields["retry"] = int(value)
        if data:
            yield SSEEvent("\n".join(data), **fields)

    async def aclose(self) -> None:
        """Stop reading a streamed body: closes the worker's producer, then finishes."""
        __tracebackhide__ = True
        if self._content is None:
            await self.raw.aclose()
            self._content = b""
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
            await done()

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
