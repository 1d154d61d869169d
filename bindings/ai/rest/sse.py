"""A streamed `text/event-stream` response that always stops its generator.

When the HTTP client goes away mid-stream, Starlette cancels the sending task and leaves
the body iterator suspended until garbage collection; a model would go on generating for
nobody. This response closes the source (`AiStream.aclose()`) as soon as sending ends,
whichever way it ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class SSEResponse(StreamingResponse):
    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
        status_code: int = 200,
    ) -> None:
        super().__init__(frames, status_code=status_code, headers=SSE_HEADERS)
        self._frames = frames
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            closer = getattr(self._frames, "aclose", None)
            if closer is not None:
                await closer()
            if self._on_close is not None:
                await self._on_close()
