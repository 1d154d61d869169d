"""Which file a decoded path serves, or where it redirects: `html_handling` and
`not_found_handling`, as the asset worker decides (workers-sdk
`packages/workers-shared/asset-worker/src/handler.ts` `getIntent`; the tables at
https://developers.cloudflare.com/workers/static-assets/routing/advanced/html-handling/).

- `auto-trailing-slash` (default): `/file` serves `file.html`, `/folder/` serves
  `folder/index.html`; `/file.html`, `/file/`, `/folder`, `/folder/index.html` redirect
  to those canonical paths (307).
- `force-trailing-slash`: every HTML page lives at `/page/`; `drop-trailing-slash`: at
  `/page` (the root stays `/`); `none`: exact file names only.
- A redirect is only issued when its destination serves the very same file (compared by
  ETag), so no rule ever redirects to a different page or in a loop.
- Not found: `single-page-application` serves `/index.html` (200); `404-page` serves the
  nearest `404.html` walking up from the path (404); `none` gives no intent (the worker
  runs, or 404).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bindings.assets.files import Asset

MODES = ("auto-trailing-slash", "force-trailing-slash", "drop-trailing-slash", "none")
NOT_FOUND_MODES = ("none", "single-page-application", "404-page")

Lookup = Callable[[str], Asset | None]


@dataclass(frozen=True)
class Intent:
    """Serve `asset` with `status`, or redirect to the decoded path `redirect`."""

    asset: Asset | None = None
    redirect: str | None = None
    status: int = 200


class Resolver:
    """`resolve(path)` -> `Intent` or None, for one configuration."""

    def __init__(self, lookup: Lookup, html_handling: str, not_found_handling: str) -> None:
        self.lookup = lookup
        self.html_handling = html_handling
        self.not_found_handling = not_found_handling
        self._modes = {
            "auto-trailing-slash": self._auto,
            "force-trailing-slash": self._force,
            "drop-trailing-slash": self._drop,
            "none": self._none,
        }

    def resolve(self, path: str, skip_redirects: bool = False) -> Intent | None:
        return self._modes[self.html_handling](path, skip_redirects)

    def _serve(self, path: str) -> Intent | None:
        asset = self.lookup(path)
        return Intent(asset) if asset is not None else None

    def _redirect(self, file: str, destination: str, skip: bool) -> Intent | None:
        """Redirect to `destination` if it serves the same file as `file` (and is not
        itself a file)."""
        if skip or self.lookup(destination) is not None:
            return None
        there = self.resolve(destination, True)
        source = self.lookup(file)
        same = there is not None and there.asset is not None and source is not None
        if same and there.asset.etag == source.etag:  # type: ignore[union-attr]
            return Intent(redirect=destination)
        return None

    def _index(self, p: str, skip: bool, *, page_slash: bool) -> Intent | None:
        """`/foo/index` or `/foo/index.html`: to `/foo/` if it is `foo/index.html`, else
        to the page `foo.html` at `/foo/` (`page_slash`) or `/foo`."""
        folder = p[:-5] if p.endswith("/index") else p[:-10]  # "/foo/"
        index_file = p + ".html" if p.endswith("/index") else p
        page = folder if page_slash else folder[:-1]
        return self._redirect(index_file, folder, skip) or self._redirect(
            folder[:-1] + ".html", page, skip
        )

    def _auto(self, p: str, skip: bool) -> Intent | None:
        exact = self._serve(p)
        r = None
        if p.endswith("/index"):
            if exact:
                return exact
            r = self._index(p, skip, page_slash=False)
        elif p.endswith("/index.html"):
            r = self._index(p, skip, page_slash=False)
        elif p.endswith("/"):
            r = self._serve(p + "index.html") or self._redirect(p[:-1] + ".html", p[:-1], skip)
        elif p.endswith(".html"):
            r = self._redirect(p, p[:-5], skip) or self._redirect(
                p[:-5] + "/index.html", p[:-5] + "/", skip
            )
        return (
            r
            or exact
            or self._serve(p + ".html")
            or self._redirect(p + "/index.html", p + "/", skip)
            or self.not_found(p)
        )

    def _force(self, p: str, skip: bool) -> Intent | None:
        exact = self._serve(p)
        r = None
        if p.endswith("/index"):
            if exact:
                return exact
            r = self._index(p, skip, page_slash=True)
        elif p.endswith("/index.html"):
            r = self._index(p, skip, page_slash=True)
        elif p.endswith("/"):
            r = self._serve(p + "index.html") or self._serve(p[:-1] + ".html")
        elif p.endswith(".html"):
            r = (
                self._redirect(p, p[:-5] + "/", skip)
                or exact
                or self._redirect(p[:-5] + "/index.html", p[:-5] + "/", skip)
            )
        return (
            r
            or exact
            or self._redirect(p + ".html", p + "/", skip)
            or self._redirect(p + "/index.html", p + "/", skip)
            or self.not_found(p)
        )

    def _drop(self, p: str, skip: bool) -> Intent | None:
        exact = self._serve(p)
        r = None
        if p.endswith("/index"):
            if exact:
                return exact
            if p == "/index":
                r = self._redirect("/index.html", "/", skip)
            else:
                r = self._redirect(p[:-6] + ".html", p[:-6], skip) or self._redirect(
                    p + ".html", p[:-6], skip
                )
        elif p.endswith("/index.html"):
            if p == "/index.html":
                r = self._redirect("/index.html", "/", skip)
            else:
                r = (
                    self._redirect(p, p[:-11], skip)
                    or exact
                    or self._redirect(p[:-11] + ".html", p[:-11], skip)
                )
        elif p.endswith("/"):
            if p == "/":
                r = self._serve("/index.html")
            else:
                r = self._redirect(p[:-1] + ".html", p[:-1], skip) or self._redirect(
                    p[:-1] + "/index.html", p[:-1], skip
                )
        elif p.endswith(".html"):
            r = self._redirect(p, p[:-5], skip) or self._redirect(
                p[:-5] + "/index.html", p[:-5], skip
            )
        return (
            r
            or exact
            or self._serve(p + ".html")
            or self._serve(p + "/index.html")
            or self.not_found(p)
        )

    def _none(self, p: str, skip: bool) -> Intent | None:
        return self._serve(p) or self.not_found(p)

    def not_found(self, p: str) -> Intent | None:
        if self.not_found_handling == "single-page-application":
            return self._serve("/index.html")
        if self.not_found_handling == "404-page":
            folder = p
            while folder:
                folder = folder[: folder.rfind("/")]
                page = self.lookup(folder + "/404.html")
                if page is not None:
                    return Intent(page, status=404)
        return None
