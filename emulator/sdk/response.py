"""`Response`: what a worker's fetch handler returns (and what outbound `fetch` gives back).

Mirrors Cloudflare's `workers.Response` (workerd `src/pyodide/internal/workers-api`) over
the JavaScript `Response` (https://developers.cloudflare.com/workers/runtime-apis/response/):
`Response(body, status=, headers=)`, `Response.json(data)` (the same name awaited on an
instance parses the body, as in Cloudflare's SDK), `Response.redirect(url, status)`.
Validation follows the Fetch standard: a status outside 200-599 is a `ValueError` (the
SDK's translation of JavaScript's RangeError), a body on a null-body status (101, 204,
205, 304) a `TypeError`.

A body may be str, bytes-like, an async iterable of bytes/str (streamed: `body_iter()`
yields each chunk as produced, nothing is buffered) or a sync iterable of bytes.
"""

from __future__ import annotations

import json as _json
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from emulator.sdk.body import BodyMixin, sync_to_async
from emulator.sdk.formdata import Blob, File, FormData
from emulator.sdk.headers import Headers

__all__ = ["Response"]

_NULL_BODY_STATUS = frozenset({101, 204, 205, 304})
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
_TEXT_PLAIN = ("content-type", "text/plain;charset=UTF-8")
# One encoder, built once: JSON.stringify's compact output, non-ASCII kept, NaN rejected.
_ENCODER = _json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _check_status(status: Any) -> int:
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError(f"Response status must be an int, got {type(status).__name__}")
    if not (200 <= status <= 599 or status == 101):
        raise ValueError(
            f"Response status {status} is outside the range [200, 599] (RangeError in JavaScript)"
        )
    return int(status)


class _StaticOrInstance:
    """A name that is a constructor on the class and a method on instances.

    Cloudflare's SDK lets `Response.json(data)` build a JSON response while
    `await response.json()` parses one; plain Python needs a descriptor for that.
    """

    def __init__(self, static: Callable[..., Any], instance: Callable[..., Any]) -> None:
        self._static = static
        self._instance = instance

    def __get__(self, obj: Any, owner: type) -> Any:
        if obj is None:
            return self._static.__get__(owner, owner)
        return self._instance.__get__(obj, owner)


class Response(BodyMixin):
    """An HTTP response: `Response("hi")`, `Response.json({...})`, `Response.redirect(url)`."""

    __slots__ = ("_body", "_source", "_used", "headers", "redirected", "status",
                 "status_text", "url")

    def __init__(
        self,
        body: Any = None,
        status: int | None = 200,
        headers: Any = None,
        status_text: str | None = None,
        *,
        web_socket: Any = None,
    ) -> None:
        if isinstance(headers, str) and status_text is None:
            # Cloudflare's SDK takes (body, status, status_text, headers) positionally.
            headers, status_text = None, headers
        self.status = 200 if status is None else _check_status(status)
        if status_text and ("\r" in status_text or "\n" in status_text):
            raise TypeError(f"Invalid status_text: {status_text!r}")
        self.status_text = status_text or ""
        self.headers = Headers(headers) if headers is not None else Headers()
        self.url = ""
        self.redirected = False
        self._used = False
        self._source: Any = None
        if body is None:
            self._body = None
            return
        if self.status in _NULL_BODY_STATUS:
            raise TypeError(f"Response with null body status ({self.status}) cannot have a body.")
        if isinstance(body, str):
            self._body = body.encode()
            self._default_content_type(_TEXT_PLAIN[1])
        elif type(body) is bytes:
            self._body = body
        elif isinstance(body, bytes | bytearray | memoryview):
            self._body = bytes(body)
        elif isinstance(body, Blob):
            self._body = body._data
            if body.type:
                self._default_content_type(body.type)
        elif isinstance(body, FormData):
            data, content_type = encode_multipart(body)
            self._body = data
            self._default_content_type(content_type)
        elif hasattr(body, "__aiter__"):
            self._body = self._source = body
        elif isinstance(body, dict | int | float) or (
            isinstance(body, list | tuple)
            and not all(isinstance(i, bytes | bytearray | memoryview | str) for i in body)
        ):
            raise TypeError(
                f"Response body cannot be a {type(body).__name__}; "
                "use Response.json(data) to send JSON"
            )
        elif isinstance(body, Iterable):
            self._source = body
            self._body = sync_to_async(body)
        else:
            raise TypeError(
                f"Unsupported type in Response: {type(body).__name__} (expected str, bytes, "
                "an async iterable of bytes or an iterable of bytes)"
            )

    def _default_content_type(self, value: str) -> None:
        if not self.headers.has("content-type"):
            self.headers._list.append(("content-type", value))

    # -- constructors -----------------------------------------------------------------------

    @classmethod
    def from_json(
        cls,
        data: Any,
        status: int = 200,
        headers: Any = None,
        status_text: str | None = None,
    ) -> Response:
        """A JSON response (`application/json`), serialised as JSON.stringify would."""
        if isinstance(headers, str) and status_text is None:
            headers, status_text = None, headers
        payload = _ENCODER.encode(data)
        response = cls(payload.encode(), status, headers, status_text)
        response._default_content_type("application/json")
        return response

    json = _StaticOrInstance(from_json, BodyMixin.json)  # type: ignore[assignment]

    @classmethod
    def redirect(cls, url: str, status: int = 302) -> Response:
        """A redirect to an absolute `url`; status must be 301, 302, 303, 307 or 308."""
        status = int(status)
        if status not in _REDIRECT_STATUS:
            raise ValueError(
                f"Response.redirect status must be 301, 302, 303, 307 or 308, got {status} "
                "(RangeError in JavaScript)"
            )
        parts = urlsplit(str(url))
        if not parts.scheme or not (parts.netloc or parts.scheme in ("data", "mailto")):
            raise TypeError(f"Invalid URL: {url!r} (Response.redirect needs an absolute URL)")
        response = cls(None, status)
        response.headers._list.append(("location", str(url)))
        return response

    # -- attributes -------------------------------------------------------------------------

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    @property
    def statusText(self) -> str:  # the JavaScript name
        return self.status_text

    @property
    def type(self) -> str:
        return "default"

    def clone(self) -> Response:
        copy = Response.__new__(Response)
        copy.status = self.status
        copy.status_text = self.status_text
        copy.headers = Headers(self.headers)
        copy.url = self.url
        copy.redirected = self.redirected
        copy._body = self._clone_body()
        copy._source = None
        copy._used = False
        return copy

    def replace_body(self, body: Any) -> Response:
        """A new Response with this one's status and headers and another body."""
        return Response(body, self.status, self.headers, self.status_text)

    # -- streaming, for the server ----------------------------------------------------------

    def body_iter(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk, as produced (a streamed body is never buffered)."""
        return self._stream()

    async def aclose(self) -> None:
        """Close the body's producer (an async generator, a stream, an upstream response)."""
        source, self._source = self._source, None
        if source is None:
            return
        closer = getattr(source, "aclose", None)
        try:
            if closer is not None:
                await closer()
            elif hasattr(source, "close"):
                source.close()
        except RuntimeError:
            # The generator is mid-step in another task; cancelling that task closes it.
            pass

    def __repr__(self) -> str:
        parts = [f"status={self.status}"]
        content_type = self.headers.get("content-type")
        if content_type:
            parts.append(f"content_type={content_type!r}")
        if self.url:
            parts.append(f"url={self.url!r}")
        return f"Response({', '.join(parts)})"


def encode_multipart(form: FormData) -> tuple[bytes, str]:
    """`form` as a multipart/form-data body, and its content type (with the boundary)."""
    import secrets

    boundary = "----edgeFormBoundary" + secrets.token_hex(8)
    out: list[bytes] = []
    for name, value in form.entries():
        quoted = name.replace('"', "%22")
        out.append(f"--{boundary}\r\n".encode())
        if isinstance(value, Blob):
            filename = value.name if isinstance(value, File) else "blob"
            out.append(
                f'Content-Disposition: form-data; name="{quoted}"; filename="{filename}"\r\n'
                f"Content-Type: {value.type or 'application/octet-stream'}\r\n\r\n".encode()
            )
            out.append(value._data)
        else:
            out.append(f'Content-Disposition: form-data; name="{quoted}"\r\n\r\n'.encode())
            out.append(str(value).encode())
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"

