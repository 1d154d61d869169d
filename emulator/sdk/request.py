"""`Request`: an incoming (or outgoing) HTTP request, as Python Workers see it.

Mirrors Cloudflare's `workers.Request` (workerd `src/pyodide/internal/workers-api`), which
wraps the JavaScript `Request` (https://developers.cloudflare.com/workers/runtime-apis/request/):
`url`, `method`, `headers`, the one-shot body readers of `BodyMixin`, `clone()`.
Construction is cheap on purpose (the dev server builds one per HTTP request): the body is
kept as given and a streamed body is only pulled when read.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

from emulator.sdk.attrdict import AttrDict
from emulator.sdk.body import BodyMixin
from emulator.sdk.headers import Headers

__all__ = ["Request"]

# Fetch normalises only these method names to upper case; others are kept verbatim.
_NORMALISED = {m.lower(): m for m in ("DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT")}
_NORMALISED.update({m: m for m in _NORMALISED.values()})
_NO_BODY = frozenset({"GET", "HEAD"})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _check_method(method: Any) -> str:
    value = getattr(method, "value", method)  # http.HTTPMethod members
    known = _NORMALISED.get(value) if isinstance(value, str) else None
    if known is not None:
        return known
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise TypeError(f"Invalid HTTP method: {method!r}")
    return _NORMALISED.get(value.lower(), value)


def _check_url(url: Any) -> str:
    if not isinstance(url, str):
        raise TypeError(f"Request URL must be a str, got {type(url).__name__}")
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme.isalpha():
        raise TypeError(f"Invalid URL: {url!r} (a Request needs an absolute URL)")
    return url


class Request(BodyMixin):
    """An HTTP request: `await request.json()`, `request.headers.get(...)`, `request.url`."""

    __slots__ = ("_body", "_cf", "_used", "headers", "method", "redirect", "url")

    def __init__(
        self,
        url: Request | str,
        method: str | None = None,
        headers: Any = None,
        body: bytes | str | AsyncIterable[bytes] | None = None,
        *,
        redirect: str = "follow",
        cf: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(url, Request):
            # new Request(request, init): copy, overriding what init gives.
            source = url
            url = source.url
            method = method or source.method
            headers = source.headers if headers is None else headers
            if body is None and source._body is not None:
                # The body moves over (the source counts as read), as in new Request(request).
                body = source._take()
            cf = source._cf if cf is None else cf
        self.url = _check_url(url)
        self.method = "GET" if method is None else _check_method(method)
        self.headers = headers if type(headers) is Headers else Headers(headers)
        if isinstance(body, str):
            body = body.encode()
            if not self.headers.has("content-type"):
                self.headers.set("content-type", "text/plain;charset=UTF-8")
        elif isinstance(body, bytearray | memoryview):
            body = bytes(body)
        elif body is not None and not isinstance(body, bytes) and not hasattr(body, "__aiter__"):
            raise TypeError(
                f"Request body must be bytes, str or an async iterable of bytes, "
                f"got {type(body).__name__}"
            )
        if body is not None and self.method in _NO_BODY and isinstance(body, bytes):
            raise TypeError("Request with a GET or HEAD method cannot have a body.")
        self._body = body
        self._used = False
        self.redirect = redirect
        self._cf = cf

    @classmethod
    def from_asgi(
        cls,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        *,
        base_url: str | None = None,
    ) -> Request:
        """The `Request` for an ASGI HTTP scope; the body streams from `receive` on demand.
        An in-process client may pass `request.cf` as the scope extension `"edge.cf"`
        (what Miniflare's `dispatchFetch(url, {cf})` does through a header)."""
        # One pass over the raw pairs: decode, and note what the URL and body need.
        pairs = []
        host = None
        has_body = False
        for key, value in scope.get("headers") or ():
            name, text = key.decode("latin-1"), value.decode("latin-1")
            pairs.append((name, text))
            if name == "host":
                host = host or text
            elif name == "content-length":
                has_body = has_body or text.strip() not in ("0", "")
            elif name == "transfer-encoding":
                has_body = True
        headers = Headers.__new__(Headers)
        headers._list = pairs
        if base_url is None:
            if host is None:
                server = scope.get("server") or ("localhost", None)
                host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
            base_url = f"{scope.get('scheme', 'http')}://{host}"
        path = scope.get("raw_path")
        path = path.decode("latin-1") if path else scope.get("path", "/")
        url = base_url + path
        if scope.get("query_string"):  # ASGI's raw_path excludes the query
            url += "?" + scope["query_string"].decode("latin-1")
        body = _receive_body(receive) if has_body else None
        self = cls.__new__(cls)
        self.url = url
        self.method = scope.get("method", "GET")
        self.headers = headers
        self._body = body
        self._used = False
        self.redirect = "follow"
        extensions = scope.get("extensions")
        self._cf = extensions.get("edge.cf") if extensions else None
        return self

    def clone(self) -> Request:
        """A copy whose body can be read independently (raises if already read)."""
        copy = Request.__new__(Request)
        copy.url = self.url
        copy.method = self.method
        copy.headers = Headers(self.headers)
        copy._body = self._clone_body()
        copy._used = False
        copy.redirect = self.redirect
        copy._cf = self._cf
        return copy

    @property
    def cf(self) -> AttrDict:
        """Cloudflare's request metadata (`request.cf`); empty locally unless given."""
        if not isinstance(self._cf, AttrDict):
            self._cf = AttrDict(self._cf or {})
        return self._cf

    def __repr__(self) -> str:
        return f"Request(method={self.method!r}, url={self.url!r})"


def worker_request(req: Any, adapter: str) -> Request:
    """`req` as the `Request` an adapter (`asgi.fetch()`) was given: the worker's request
    or its `js_object` (the same object here)."""
    if isinstance(req, Request):
        return req
    raise TypeError(
        f"{adapter} takes the worker's request (workers.Request or request.js_object), "
        f"got {type(req).__name__}"
    )


async def _receive_body(receive: Callable[[], Awaitable[dict[str, Any]]]):
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "http.disconnect":
            raise OSError("client disconnected before the request body was read")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
