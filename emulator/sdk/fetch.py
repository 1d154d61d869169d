"""Outbound `fetch()`: the Workers global fetch, made with httpx.

Cloudflare's Python SDK defines `async fetch(resource, **options)` over the JavaScript
fetch (https://developers.cloudflare.com/workers/runtime-apis/fetch/): `method`,
`headers`, `body`, `redirect` ("follow" | "manual" | "error"); it returns a `Response`
whose body streams. Network failures raise `OSError` as Pyodide's `pyfetch` does.

httpx decodes `Content-Encoding` on the fly, so the returned headers drop
`content-encoding` and `content-length` (the body no longer matches them); returning such a
response from a worker therefore proxies correctly. Tests (and the test harness) can route
fetches to an in-process app or any transport with `using_client(httpx.AsyncClient(...))`.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from emulator.sdk.headers import Headers
from emulator.sdk.request import Request
from emulator.sdk.response import Response

if TYPE_CHECKING:  # httpx costs ~160 ms to import: edge dev's cold start pays it only on use
    import httpx

__all__ = ["fetch", "using_client"]

_override: ContextVar[httpx.AsyncClient | None] = ContextVar("edge_fetch_client", default=None)
# One pooled client per event loop: an httpx pool must not be shared across loops.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)
_DECODED = ("content-encoding", "content-length")
_closing: set[asyncio.Task[None]] = set()


@contextlib.contextmanager
def using_client(client: httpx.AsyncClient) -> Iterator[httpx.AsyncClient]:
    """Make `fetch()` in this context (and tasks started from it) use `client`."""
    token = _override.set(client)
    try:
        yield client
    finally:
        _override.reset(token)


def _client() -> httpx.AsyncClient:
    client = _override.get()
    if client is not None:
        return client
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        import httpx

        client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=30.0))
        _clients[loop] = client
    return client


async def fetch(
    resource: Request | str,
    *,
    method: str | None = None,
    headers: Any = None,
    body: Any = None,
    redirect: str | None = None,
    **_options: Any,
) -> Response:
    """Send an HTTP request and return the `Response` (its body is read lazily)."""
    request = Request(resource, method, headers, body, redirect=redirect or "follow")
    if request.redirect not in ("follow", "manual", "error"):
        raise TypeError(
            f"fetch redirect must be 'follow', 'manual' or 'error', not {request.redirect!r}"
        )
    import httpx

    fixed = request.fixed_body
    content = request.body if fixed is None else fixed
    client = _client()
    outgoing = client.build_request(
        request.method, request.url, headers=request.headers.raw(), content=content
    )
    try:
        upstream = await client.send(
            outgoing, stream=True, follow_redirects=request.redirect == "follow"
        )
    except httpx.HTTPError as exc:
        raise OSError(f"fetch {request.method} {request.url} failed: {exc}") from exc
    if request.redirect == "error" and upstream.is_redirect:
        await upstream.aclose()
        raise TypeError(f"fetch {request.url}: redirect received with redirect='error'")
    return _wrap(upstream, request.method)


def _wrap(upstream: httpx.Response, method: str) -> Response:
    decoded = "content-encoding" in upstream.headers
    pairs = [
        (k.decode("latin-1").lower(), v.decode("latin-1"))
        for k, v in upstream.headers.raw
        if not (decoded and k.decode("latin-1").lower() in _DECODED)
    ]
    body = None
    if method == "HEAD" or upstream.status_code in (101, 204, 205, 304):
        _schedule_close(upstream)  # nothing to read: give the connection back now
    else:
        body = _stream(upstream)
    response = Response(body, headers=Headers(pairs), status_text=upstream.reason_phrase)
    response.status = upstream.status_code  # any upstream status, even one a worker can't set
    response.url = str(upstream.url)
    response.redirected = bool(upstream.history)
    return response


def _schedule_close(upstream: httpx.Response) -> None:
    task = asyncio.get_running_loop().create_task(upstream.aclose())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def _stream(upstream: httpx.Response) -> AsyncIterator[bytes]:
    import httpx

    try:
        async for chunk in upstream.aiter_bytes():
            yield chunk
    except httpx.HTTPError as exc:
        raise OSError(f"fetch {upstream.url}: reading the body failed: {exc}") from exc
    finally:
        await upstream.aclose()
