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

A Python Worker's `bytes` stand for what a JavaScript worker passes as a `Uint8Array`,
a binary string or a stream body (`{"body": ..., "contentType": ...}`): `binary_view`
lets them through schema validation as the type the schema asks for (an array, a
string, an object) without turning megabytes into a list of integers, and puts the
bytes back afterwards; an `AiBinary` (one model's image or audio handed to another)
counts as bytes, and a stream (`request.body`, a fetched response's body: an async
iterator of byte chunks) is read into bytes first (`read_streams`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable
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


def is_bytes(value: Any) -> bool:
    return isinstance(value, bytes | bytearray | memoryview | AiBinary)


def as_bytes(value: Any, *, field: str = "input") -> bytes:
    """`bytes` from bytes, an array of 0-255 integers, or a base64 string; else 5004."""
    if is_bytes(value):
        return bytes(value)
    if isinstance(value, dict) and "body" in value:  # a stream body and its content type
        return as_bytes(value["body"], field=f"{field}.body")
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        raise AiError(5004, f"Invalid data type for base64 input: {field} is a URL, and "
                            "edge runs offline: pass the bytes or a base64 data URI")
    if isinstance(value, str):
        if value.startswith("data:") and "," in value:
            value = value.split(",", 1)[1]
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


def _is_stream(value: Any) -> bool:
    return hasattr(value, "__aiter__") and not is_bytes(value)


async def read_streams(inputs: dict[str, Any]) -> dict[str, Any]:
    """`inputs` with each stream value (or `{"body": stream}`) read into bytes."""
    out: dict[str, Any] | None = None
    for key, value in inputs.items():
        if isinstance(value, dict) and _is_stream(value.get("body")):
            value = {**value, "body": b"".join([bytes(c) async for c in value["body"]])}
        elif _is_stream(value):
            value = b"".join([bytes(chunk) async for chunk in value])
        else:
            continue
        out = dict(inputs) if out is None else out
        out[key] = value
    return inputs if out is None else out


def binary_view(
    entry: Any, inputs: dict[str, Any]
) -> tuple[dict[str, Any], Callable[[dict[str, Any]], dict[str, Any]]]:
    """(inputs with bytes replaced by small values of the schema's type, a function that
    puts the bytes back into the validated inputs); see the module docstring."""
    originals: dict[str, Any] = {}
    view = dict(inputs)
    for key, value in inputs.items():
        # Only bytes cost a schema lookup: text generation's hot path passes untouched.
        if is_bytes(value):
            view[key] = _placeholder(entry.input_property(key) or {})
        elif isinstance(value, dict) and any(is_bytes(v) for v in value.values()):
            inner = (entry.input_property(key) or {}).get("properties") or {}
            view[key] = {k: _placeholder(inner.get(k) or {}) if is_bytes(v) else v
                         for k, v in value.items()}
        else:
            continue
        originals[key] = value

    def restore(checked: dict[str, Any]) -> dict[str, Any]:
        if not originals:
            return checked
        return {**checked, **{k: v for k, v in originals.items() if k in checked}}

    return view, restore


def _types(schema: dict[str, Any]) -> set[Any]:
    return {schema.get("type")} | {
        form.get("type") for form in schema.get("oneOf") or schema.get("anyOf") or ()
        if isinstance(form, dict)
    }


def _placeholder(schema: dict[str, Any]) -> Any:
    types = _types(schema)
    if "array" in types:
        return [0]
    if "string" in types:
        return "AA=="
    if "object" in types:
        props = schema.get("properties") or {}
        if "body" in props and "contentType" in props:  # bytes stand for a stream body
            return {"body": {}, "contentType": "application/octet-stream"}
        return {}
    return b""  # a type mismatch naming bytes
