"""`pyodide.http`: `pyfetch` and its `FetchResponse`, over edge's outbound `fetch`.

Pyodide's API (https://pyodide.org/en/stable/usage/api/python-api/http.html), which older
Python Workers examples use: `resp = await pyfetch(url, method=..., headers=..., body=...)`,
then `resp.status`, `resp.ok`, `resp.headers` (a dict), `await resp.json()` (plain Python
values), `.text()`, `.bytes()`, `.buffer()`, `.clone()`, `raise_for_status()`, and
`resp.js_response` (the `workers.Response`). Network failures raise `OSError`.
"""

from __future__ import annotations

import json
from typing import Any

from emulator.ffi.values import JsBuffer

__all__ = ["FetchResponse", "HttpStatusError", "pyfetch"]


class HttpStatusError(OSError):
    """`raise_for_status()` on a 4xx/5xx response."""

    def __init__(self, status: int, status_text: str, url: str) -> None:
        kind = "Client" if status < 500 else "Server"
        super().__init__(f"{status} {kind} Error: {status_text} for url: {url}")
        self.status = status
        self.status_text = status_text
        self.url = url


class FetchResponse:
    """A response of `pyfetch`."""

    def __init__(self, url: str, js_response: Any) -> None:
        self._url = url
        self.js_response = js_response

    @property
    def status(self) -> int:
        return self.js_response.status

    @property
    def status_text(self) -> str:
        return self.js_response.status_text

    @property
    def ok(self) -> bool:
        return self.js_response.ok

    @property
    def url(self) -> str:
        return self.js_response.url or self._url

    @property
    def redirected(self) -> bool:
        return self.js_response.redirected

    @property
    def type(self) -> str:
        return "basic"

    @property
    def body_used(self) -> bool:
        return self.js_response.body_used

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.js_response.headers.items())

    def raise_for_status(self) -> None:
        if self.status >= 400:
            raise HttpStatusError(self.status, self.status_text, self.url)

    def clone(self) -> FetchResponse:
        return FetchResponse(self._url, self.js_response.clone())

    async def bytes(self) -> bytes:
        return await self.js_response.bytes()

    async def buffer(self) -> JsBuffer:
        return JsBuffer(await self.bytes())

    async def memoryview(self) -> memoryview:
        return memoryview(await self.bytes())

    async def text(self) -> str:
        return await self.js_response.text()

    string = text

    async def json(self, **kwargs: Any) -> Any:
        return json.loads(await self.bytes(), **kwargs)

    def __repr__(self) -> str:
        return f"FetchResponse(status={self.status}, url={self.url!r})"


async def pyfetch(url: str, **kwargs: Any) -> FetchResponse:
    """`await pyfetch(url, method=..., headers=..., body=...)` (`OSError` on failure)."""
    from emulator.sdk import fetch

    kwargs.pop("fetcher", None)
    response = await fetch(url, **kwargs)
    return FetchResponse(str(url), response)
