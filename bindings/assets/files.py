"""The assets directory: which URL path names which file, its ETag and content type, and
the three files that configure serving (`_headers`, `_redirects`, `.assetsignore`).

Nothing is listed up front. Every lookup is one `stat` of the file the path names, and
what is derived from a file (its ETag, the parsed rules) is cached under the file's stat
signature, so an asset added, edited or deleted is served as it is now: no reload, no
re-import of the worker, in `edge dev` and the test harness alike.

Paths go through `bindings.storage.state_path`, the one path-safety check: "..", a
backslash, NUL or a symlink leading out of the directory name no asset. What Wrangler
would not upload is not served either: `.assetsignore` patterns (gitignore syntax, as
workers-sdk `packages/workers-shared/utils/helpers.ts` `createAssetsIgnoreFunction`
reads them) and the configuration files themselves. Content types are those of the
`mime` package Wrangler uses, `text/*` with `; charset=utf-8` (`getContentType`).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bindings.storage import StatePathError, state_path

log = logging.getLogger("edge.assets")

T = TypeVar("T")

HEADERS_FILE = "_headers"
REDIRECTS_FILE = "_redirects"
IGNORE_FILE = ".assetsignore"
#: never served: Wrangler reads them instead of uploading them.
CONFIG_FILES = frozenset({HEADERS_FILE, REDIRECTS_FILE, IGNORE_FILE})

#: where the `mime` package (npm) differs from Python's built-in table, or Python has none.
_TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".cjs": "text/javascript",
    ".json": "application/json", ".map": "application/json",
    ".webmanifest": "application/manifest+json", ".wasm": "application/wasm",
    ".xml": "application/xml", ".md": "text/markdown", ".markdown": "text/markdown",
    ".svg": "image/svg+xml", ".ico": "image/vnd.microsoft.icon", ".webp": "image/webp",
    ".avif": "image/avif", ".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf",
    ".otf": "font/otf", ".mp4": "video/mp4", ".webm": "video/webm", ".mp3": "audio/mpeg",
    ".txt": "text/plain", ".csv": "text/csv", ".ics": "text/calendar", ".yaml": "text/yaml",
    ".yml": "text/yaml", ".toml": "application/toml",
}  # fmt: skip
#: Wrangler uploads a file with no known type without one; Miniflare serves it as bytes.
FALLBACK_TYPE = "application/octet-stream"
#: files up to this size stay in memory between requests (a site's pages, CSS, scripts)
MAX_KEPT = 1 << 20
_builtin_types: mimetypes.MimeTypes | None = None


def content_type(name: str) -> str:
    """The Content-Type Cloudflare serves a file named `name` with."""
    global _builtin_types
    suffix = os.path.splitext(name)[1].lower()
    found = _TYPES.get(suffix)
    if found is None:
        if _builtin_types is None:  # Python's own table only: /etc/mime.types varies by machine
            _builtin_types = mimetypes.MimeTypes(filenames=())
        found = _builtin_types.types_map[True].get(suffix, FALLBACK_TYPE)
    if found.startswith("text/"):
        return f"{found}; charset=utf-8"
    return found


@dataclass(frozen=True)
class Asset:
    """One servable file: where it is, its strong ETag (unquoted), size and type."""

    path: Path
    etag: str
    size: int
    content_type: str
    data: bytes | None = None  # the content, kept for small files (checked by stat)

    def read(self) -> bytes:
        return self.data if self.data is not None else self.path.read_bytes()


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class AssetFiles:
    """The files of one assets directory, looked up by decoded URL path (`/a/b.css`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root_prefix = os.path.join(self.root, "")
        self._assets: dict[str, tuple[tuple[int, int, int], Asset]] = {}
        self._parsed: dict[str, tuple[tuple[int, int, int] | None, Any]] = {}

    def lookup(self, url_path: str) -> Asset | None:
        """The asset `url_path` names exactly (no HTML handling), or None."""
        if not url_path.startswith("/") or url_path.endswith("/"):
            return None
        relative = url_path[1:]
        try:
            # most lookups are misses (HTML handling tries several names): one stat says so
            # before the path is proven safe; only state_path's path is ever served
            os.stat(self._root_prefix + relative)
        except (OSError, ValueError):
            return None
        parts = relative.split("/")
        try:
            path = state_path(self.root, *parts)
            st = os.stat(path)
        except (StatePathError, OSError):
            return None
        if not stat.S_ISREG(st.st_mode) or self.ignored(relative):
            return None
        signature = _signature(st)
        cached = self._assets.get(relative)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            data = path.read_bytes()
        except OSError:
            return None
        # blake2b of the bytes: strong (changes with any byte), stable across restarts
        asset = Asset(path, hashlib.blake2b(data, digest_size=16).hexdigest(), len(data),
                      content_type(parts[-1]), data if len(data) <= MAX_KEPT else None)  # fmt: skip
        self._assets[relative] = (signature, asset)
        return asset

    def ignored(self, relative: str) -> bool:
        """Whether Wrangler would leave the file at `relative` out of the upload."""
        if relative in CONFIG_FILES:
            return True
        spec = self.parsed(IGNORE_FILE, _gitignore)
        return spec is not None and spec.match_file(relative)

    def parsed(self, name: str, parse: Callable[[str], T], variant: str = "") -> T | None:
        """`parse(text)` of the configuration file `name` at the top of the directory
        (None when it does not exist), parsed again only when the file changes;
        `variant` tells apart parses that depend on settings (`html_handling`)."""
        path = self._root_prefix + name
        try:
            signature: tuple[int, int, int] | None = _signature(os.stat(path))
        except OSError:
            signature = None
        cached = self._parsed.get(name + variant)
        if cached is not None and cached[0] == signature:
            return cached[1]
        value = None
        if signature is not None:
            try:
                with open(path, encoding="utf-8", errors="replace") as file:
                    value = parse(file.read())
            except OSError as exc:
                log.warning("assets: cannot read %s: %s", path, exc)
        self._parsed[name + variant] = (signature, value)
        return value


def _gitignore(text: str) -> Any:
    import pathspec  # only for a directory that has an .assetsignore

    return pathspec.GitIgnoreSpec.from_lines(text.splitlines())
