"""Who may talk to the REST API: one ASGI middleware in front of every route.

The API runs models on the developer's machine, so a web page the developer happens to
visit must not be able to drive it:

- **DNS rebinding.** With no token (the default), a page at `http://evil.example` can
  point its own name at 127.0.0.1 and then read the API's answers as same-origin. Its
  requests still carry `Host: evil.example`, so only loopback names are accepted
  (`localhost`, `*.localhost` per RFC 6761, 127.0.0.0/8, `[::1]`) plus the names in
  `EDGE_API_HOSTS` (comma-separated: a tunnel, a container's name). With a token the
  token is the defence and the API may be served on any address, so any Host passes.
- **Cross-site requests.** A form or `fetch` from another site can POST without reading
  the answer. Browsers say where a request comes from (`Origin`, and `Sec-Fetch-Site`,
  https://www.w3.org/TR/fetch-metadata/): a request from another origin is refused unless
  that origin is on a loopback or allowed host; `Sec-Fetch-Site: cross-site` is refused
  too, except a plain GET navigation (following a link to a model page).
- **The token covers everything.** When set, every path needs it, the pages and
  `/openapi.json` included. Browsers cannot add a header to a link, so opening any page as
  `/?token=<token>` once stores a cookie (HttpOnly, SameSite=Strict, derived from the
  token, never the token itself) and redirects to the same page without the token; the
  pages and the playground then work as usual.

Refusals are answered by the app's own error writer (v4 envelope, OpenAI error, or HTML
page by path): 403 with code 9109 ("Unauthorized to access requested resource", the code
Cloudflare's API uses for a forbidden request), 401 with 10000 for a missing token.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bindings.ai.rest.envelope import AUTH_ERROR, FORBIDDEN
from emulator.serving import is_loopback

__all__ = ["HOSTS_ENV", "RequestGuard", "allowed_hosts_from_env"]

HOSTS_ENV = "EDGE_API_HOSTS"
COOKIE = "edge_api_session"
_SAFE = frozenset({"GET", "HEAD"})

Respond = Callable[[Request, int, str, int], Response]


def allowed_hosts_from_env() -> tuple[str, ...]:
    """The extra Host names `EDGE_API_HOSTS` allows (lower case, no ports)."""
    raw = os.environ.get(HOSTS_ENV, "")
    return tuple(name.strip().lower() for name in raw.split(",") if name.strip())


def _hostname(netloc: str) -> str:
    """The host of `host[:port]` (IPv6 kept in brackets), lower case."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[: netloc.find("]") + 1]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


class RequestGuard:
    """ASGI middleware: Host, Origin / Sec-Fetch-Site and token checks (module docstring)."""

    def __init__(
        self,
        app: Any,
        *,
        respond: Respond,
        api_token: str | None = None,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.respond = respond
        self.api_token = api_token or None
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self._session = (
            hmac.new(self.api_token.encode(), b"edge pages session", hashlib.sha256).hexdigest()
            if self.api_token
            else None
        )

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response = self._refusal(request) or self._sign_in(request)
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    def _trusted(self, host: str) -> bool:
        return is_loopback(host) or host in self.allowed_hosts

    def _refusal(self, request: Request) -> Response | None:
        headers = request.headers
        host = headers.get("host")
        if self.api_token is None and host is not None and not self._trusted(_hostname(host)):
            return self._forbid(
                request,
                f"Host '{host}' is not served: with no API token only loopback names are "
                f"(set {HOSTS_ENV} to allow more, or --api-token)",
            )
        origin = headers.get("origin")
        if origin is not None and not self._same_or_trusted(origin, host):
            return self._forbid(request, f"Cross-site request from origin '{origin}' refused")
        if (
            origin is None
            and headers.get("sec-fetch-site") == "cross-site"
            and not (request.method in _SAFE and headers.get("sec-fetch-mode") == "navigate")
        ):
            return self._forbid(request, "Cross-site request refused (Sec-Fetch-Site)")
        if self.api_token is not None and not self._authorized(request):
            return self.respond(request, AUTH_ERROR, self._auth_message(request), 401)
        return None

    def _same_or_trusted(self, origin: str, host: str | None) -> bool:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (sandboxed frames, file://) and anything odd
        if host is not None and parts.netloc.lower() == host.strip().lower():
            return True
        return self._trusted(_hostname(parts.netloc))

    def _forbid(self, request: Request, message: str) -> Response:
        return self.respond(request, FORBIDDEN, message, 403)

    def _authorized(self, request: Request) -> bool:
        assert self.api_token is not None and self._session is not None
        header = request.headers.get("authorization")
        if header is not None:  # an explicit credential decides alone, even with a cookie
            scheme, _, given = header.partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode(), self.api_token.encode()
            )
        if request.method in _SAFE and self._given_token(request) is not None:
            return True  # checked in _sign_in, which answers before the app runs
        cookie = request.cookies.get(COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self._session.encode())

    def _given_token(self, request: Request) -> str | None:
        given = request.query_params.get("token")
        if given is None or self.api_token is None:
            return None
        return given if hmac.compare_digest(given.encode(), self.api_token.encode()) else None

    def _auth_message(self, request: Request) -> str:
        if request.url.path.startswith("/client/v4/"):
            return "Authentication error"
        return (
            "Authentication error: this API has a token. Open this page once as "
            f"{request.url.path}?token=<your token> to sign in (a cookie keeps you signed in)"
        )

    def _sign_in(self, request: Request) -> Response | None:
        """`GET /page?token=<token>`: set the session cookie, drop the token from the URL."""
        if request.method not in _SAFE or self._given_token(request) is None:
            return None
        query = urlencode([(k, v) for k, v in parse_qsl(request.url.query) if k != "token"])
        target = request.url.path + (f"?{query}" if query else "")
        response = RedirectResponse(target, status_code=303)
        assert self._session is not None
        response.set_cookie(COOKIE, self._session, httponly=True, samesite="strict", path="/")
        return response
