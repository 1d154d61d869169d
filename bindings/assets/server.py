"""The asset worker: what one request to the assets gets (workers-sdk
`packages/workers-shared/asset-worker/src/handler.ts`, `utils/headers.ts`).

In order: a `_redirects` rule (a 200 rule rewrites the path to another asset); the
path decoded per segment and its intent found (`html_handling`); no intent is "no
intent" (the router then runs the worker; `env.ASSETS.fetch` answers 404); a method
other than GET/HEAD is 405; a path that is not the canonical, re-encoded one is a 307;
`If-None-Match` with the ETag (strong or weak) is a 304; else the file, with `ETag`
(strong, quoted), `Content-Type`, and `Cache-Control: public, max-age=0, must-revalidate`
unless the request carries `Authorization` or `Range`. `_headers` rules then apply to
whatever the asset worker answered.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes, urljoin, urlsplit

from bindings.assets.files import REDIRECTS_FILE, Asset, AssetFiles
from bindings.assets.html_handling import Intent, Resolver
from bindings.assets.rules import HeaderRules, Redirects, parse_headers, parse_redirects
from emulator.sdk import Request, Response

CACHE_CONTROL = "public, max-age=0, must-revalidate"
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_STATUS_TEXT = {301: "Moved Permanently", 302: "Found", 303: "See Other",
                307: "Temporary Redirect", 308: "Permanent Redirect"}  # fmt: skip


@dataclass(frozen=True)
class AssetConfig:
    """`[assets]` as the asset worker uses it."""

    html_handling: str = "auto-trailing-slash"
    not_found_handling: str = "none"
    #: workers-sdk `assets_navigation_prefers_asset_serving` (on from 2025-04-01): when
    #: routing, navigation requests (`Sec-Fetch-Mode: navigate`) get the not-found page;
    #: without it, and for every other request, a miss runs the worker.
    navigation_prefers_assets: bool = True


def decode_path(path: str) -> str:
    """Each segment percent-decoded (kept as is when malformed, as decodeURIComponent
    would throw), runs of slashes folded."""
    segments = []
    for segment in path.split("/"):
        if "%" in segment and not _BAD_ESCAPE.search(segment):
            with contextlib.suppress(UnicodeDecodeError):
                segment = unquote_to_bytes(segment).decode("utf-8")
        segments.append(segment)
    return re.sub(r"/+", "/", "/".join(segments))


def encode_path(path: str) -> str:
    """The canonical form of a decoded path: each segment as encodeURIComponent has it."""
    return "/".join(quote(segment, safe="-_.!~*'()") for segment in path.split("/"))


def _headers_rules(text: str) -> HeaderRules:
    return parse_headers(text)


class AssetServer:
    """Serves one assets directory; `await handle(request)` is one request."""

    def __init__(self, files: AssetFiles, config: AssetConfig) -> None:
        self.files = files
        self.config = config

    def _redirects(self) -> Redirects | None:
        html = self.config.html_handling
        return self.files.parsed(
            REDIRECTS_FILE, lambda text: parse_redirects(text, html_handling=html), html
        )

    def read_rules(self) -> None:
        """Parse `_redirects` and `_headers` now, so what they get wrong is said at start-up
        (as `wrangler dev` does) rather than on the first request."""
        self._redirects()
        self.files.parsed("_headers", _headers_rules)

    def handle(self, request: Request, *, as_router: bool = False) -> Response | None:
        """The asset worker's answer. With `as_router` (the router asking whether assets
        take this request before the worker) None means "no intent: run the worker"; else
        no intent is a 404."""
        not_found = self.config.not_found_handling
        if as_router and not (
            self.config.navigation_prefers_assets
            and request.headers.get("sec-fetch-mode") == "navigate"
        ):
            not_found = "none"
        url = urlsplit(request.url)
        # one request's lookups are remembered: HTML handling asks about a name repeatedly
        seen: dict[str, Asset | None] = {}

        def lookup(path: str) -> Asset | None:
            if path not in seen:
                seen[path] = self.files.lookup(path)
            return seen[path]

        resolver = Resolver(lookup, self.config.html_handling, not_found)
        response = self._respond(request, url, resolver)
        if response is None:
            if as_router:
                return None
            response = Response(None, status=404, status_text="Not Found")
        self._apply_header_rules(url.hostname or "", url.path or "/", response)
        return response

    def _respond(self, request: Request, url, resolver: Resolver) -> Response | None:
        path = url.path or "/"
        search = f"?{url.query}" if url.query else ""
        proxied = False
        rules = self._redirects()
        redirect = rules.match(url.hostname or "", path) if rules is not None else None
        if redirect is not None:
            if redirect.status != 200:
                return _redirect(redirect.status, _location(request.url, redirect.to, search))
            path, proxied = urlsplit(urljoin(request.url, redirect.to)).path or "/", True
        decoded = decode_path(path)
        intent = resolver.resolve(decoded)
        if intent is None:
            return Response(None, status=404, status_text="Not Found") if proxied else None
        if request.method not in ("GET", "HEAD"):
            return Response(None, status=405, status_text="Method Not Allowed")
        destination = encode_path(intent.redirect or decoded)
        if intent.redirect is not None or destination != path:
            return _redirect(307, destination + search)
        return _file(request, intent)

    def _apply_header_rules(self, host: str, path: str, response: Response) -> None:
        rules = self.files.parsed("_headers", _headers_rules)
        if rules is None:
            return
        seen: set[str] = set()
        for rule in rules.matching(host, path):
            for name in rule.unset:
                response.headers.delete(name)
            for name, value in rule.set.items():
                if name in seen:
                    response.headers.append(name, value)
                else:
                    response.headers.set(name, value)
                    seen.add(name)


def _file(request: Request, intent: Intent) -> Response:
    asset = intent.asset
    assert asset is not None
    strong = f'"{asset.etag}"'
    headers = [("etag", strong), ("content-type", asset.content_type)]
    if not request.headers.has("authorization") and not request.headers.has("range"):
        headers.append(("cache-control", CACHE_CONTROL))
    if request.headers.get("if-none-match") in (strong, f"W/{strong}"):
        return Response(None, status=304, headers=headers, status_text="Not Modified")
    if request.method == "HEAD":
        headers.append(("content-length", str(asset.size)))
        return Response(None, status=intent.status, headers=headers)
    try:
        body = asset.read()
    except OSError:  # deleted between the lookup and the read
        return Response(None, status=404, status_text="Not Found")
    return Response(body, status=intent.status, headers=headers)


def _location(request_url: str, to: str, search: str) -> str:
    """Where a `_redirects` rule sends the request: same-origin targets as a path, the
    request's query string kept unless the target has its own."""
    here, there = urlsplit(request_url), urlsplit(urljoin(request_url, to))
    query = f"?{there.query}" if there.query else search
    fragment = f"#{there.fragment}" if there.fragment else ""
    if (there.scheme, there.netloc) == (here.scheme, here.netloc):
        return f"{there.path or '/'}{query}{fragment}"
    base = there._replace(query="", fragment="").geturl()
    return f"{base}{query}{fragment}"


def _redirect(status: int, location: str) -> Response:
    return Response(None, status=status, headers={"location": location},
                    status_text=_STATUS_TEXT[status])  # fmt: skip
