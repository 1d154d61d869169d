"""Binary values in Workers AI: images and audio, in and out, as Cloudflare passes them.

Out: models whose output schema is `{"type": "string", "format": "binary", "contentType":
"image/png"}` (Stable Diffusion, TTS's MP3) make Cloudflare's binding return the raw bytes
as a `ReadableStream`, which workers hand to `Response` with a matching content type, and
the REST run endpoint answer those bytes with that content type. `AiBinary` is that
value here: an async iterable of byte chunks (what `Response(...)` streams), with its
`media_type`, and its `data` for code that wants the bytes at once.

In: schemas take images and audio as an array of unsigned 8-bit integers, or as a base64
string (`"format": "binary"` strings); `as_bytes` turns either (or `bytes`, from Python
code) into `bytes`, and anything else into Cloudflare's 5004 "Invalid data type for
base64 input" error (developers.cloudflare.com/workers-ai/platform/errors/).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any

from bindings.ai.errors import AiError

CHUNK = 64 * 1024


class AiBinary:
    """Bytes with a media type, iterated like a `ReadableStream` (see the module docstring)."""

    __slots__ = ("data", "media_type")

    def __init__(self, data: bytes, media_type: str = "application/octet-stream") -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"AiBinary data must be bytes, not {type(data).__name__}")
        self.data = bytes(data)
        self.media_type = media_type

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), CHUNK):
            yield self.data[start : start + CHUNK]

    def __bytes__(self) -> bytes:
        return self.data

    def __len__(self) -> int:
        return len(self.data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AiBinary):
            return (self.data, self.media_type) == (other.data, other.media_type)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<AiBinary {self.media_type}, {len(self.data)} bytes>"


def as_bytes(value: Any, *, field: str = "input") -> bytes:
    """`bytes` from bytes, an array of 0-255 integers, or a base64 string; else 5004."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise AiError(5004, f"Invalid data type for base64 input: {field} is not "
                                "valid base64") from None
    if isinstance(value, list | tuple):
        try:
            return bytes(value)
        except (TypeError, ValueError):
            raise AiError(5004, f"Invalid data type for base64 input: {field} must hold "
                                "integers from 0 to 255") from None
    raise AiError(5004, f"Invalid data type for base64 input: {type(value).__name__}")
