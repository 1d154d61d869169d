"""R2 objects as stored and as returned, shared by the bucket (`bindings.r2`) and its
multipart uploads (`bindings.r2_multipart`): the index row (`SCHEMA`, `read_row`,
`store_row`), the checks of what a caller stores (`http_metadata`, `custom_metadata`,
`to_bytes`), `R2Error`, and what R2 returns: `R2Object` (metadata, what `head` gives)
and `R2ObjectBody` (metadata plus the contents, what `get` gives), as in
https://developers.cloudflare.com/r2/api/workers/workers-api-reference/#r2object-definition.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from typing import Any

from bindings.storage import usv
from emulator.errors import EdgeError
from emulator.sdk.attrdict import AttrDict, wrap

HEADER_NAMES = {"contentType": "content-type", "contentLanguage": "content-language",
                "contentDisposition": "content-disposition",
                "contentEncoding": "content-encoding", "cacheControl": "cache-control",
                "cacheExpiry": "expires"}  # fmt: skip


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


MAX_CUSTOM_METADATA_SIZE = 2048
HTTP_FIELDS = ("contentType", "contentLanguage", "contentDisposition", "contentEncoding",
               "cacheControl", "cacheExpiry")  # fmt: skip

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    blob TEXT NOT NULL,
    version TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    uploaded INTEGER NOT NULL,
    http_metadata TEXT NOT NULL,
    custom_metadata TEXT NOT NULL,
    storage_class TEXT NOT NULL
);
"""
COLUMNS = "key, blob, version, size, etag, uploaded, http_metadata, custom_metadata, storage_class"


class R2Error(EdgeError):
    """A rejected R2 call; messages follow R2's (`put: ... (10037)`)."""


def read_row(conn: Any, key: str) -> tuple | None:
    return conn.execute(f"SELECT {COLUMNS} FROM objects WHERE key = ?", (key,)).fetchone()


def store_row(conn: Any, row: tuple) -> None:
    conn.execute(f"INSERT OR REPLACE INTO objects ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", row)


def http_metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "items") and not isinstance(value, dict):  # a Headers object
        by_header = {header: name for name, header in HEADER_NAMES.items()}
        return {by_header[k.lower()]: v for k, v in value.items() if k.lower() in by_header}
    if not isinstance(value, dict):
        raise R2Error(f"put: httpMetadata must be a dict or Headers, got {type(value).__name__}")
    fields = {camel(k) if isinstance(k, str) else k: v for k, v in value.items()}
    unknown = [name for name in fields if name not in HTTP_FIELDS]
    if unknown:
        raise R2Error(f"put: unknown httpMetadata field(s) {unknown!r}; known: {HTTP_FIELDS}")
    for name, field in fields.items():
        if not isinstance(field, str | datetime):
            raise R2Error(f"put: httpMetadata.{name} must be a string (or a date), "
                          f"got {type(field).__name__}")  # fmt: skip
    return {k: v.isoformat() if isinstance(v, datetime) else usv(v) for k, v in fields.items()}


def custom_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise R2Error("put: customMetadata must map strings to strings")
    value = {usv(k): usv(v) for k, v in value.items()}
    size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if size > MAX_CUSTOM_METADATA_SIZE:
        raise R2Error(f"put: Your metadata headers exceed the maximum allowed metadata size. "
                      f"({size} > {MAX_CUSTOM_METADATA_SIZE} bytes) (10012)")  # fmt: skip
    return dict(value)


async def to_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return usv(value).encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, AsyncIterable):
        return b"".join([usv(c).encode() if isinstance(c, str) else bytes(c)
                         async for c in value])  # fmt: skip
    raise R2Error(f"put: value must be str, bytes or a stream, got {type(value).__name__}")


class R2Object:
    """Metadata of a stored object (what `head` returns)."""

    def __init__(self, row: tuple, range_: dict | None = None) -> None:
        key, _blob, version, size, etag, uploaded, http, custom, storage_class = row
        self.key: str = key
        self.version: str = version
        self.size: int = size
        self.etag: str = etag
        self.httpEtag: str = f'"{etag}"'
        self.uploaded = datetime.fromtimestamp(uploaded / 1000, tz=UTC)
        self.httpMetadata = AttrDict(json.loads(http))
        self.customMetadata = AttrDict(json.loads(custom))
        # a multipart object's etag (`<md5 of md5s>-<parts>`) is no MD5 of the contents
        self.checksums = AttrDict(md5=bytes.fromhex(etag)) if "-" not in etag else AttrDict()
        self.storageClass: str = storage_class
        self.range = AttrDict(range_ or {"offset": 0, "length": size})

    def __getattr__(self, name: str) -> Any:  # snake_case aliases: http_etag, custom_metadata
        alias = camel(name)
        if alias != name:
            return getattr(self, alias)
        raise AttributeError(name)

    def writeHttpMetadata(self, headers: Any) -> None:
        """Copy the stored HTTP metadata onto a Headers object (or a dict)."""
        for field_name, header in HEADER_NAMES.items():
            value = self.httpMetadata.get(field_name)
            if value is not None:
                text = value if isinstance(value, str) else str(value)
                setter = getattr(headers, "set", None)
                if callable(setter):  # workers.Headers (JS-like)
                    setter(header, text)
                else:
                    headers[header] = text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key!r} size={self.size} etag={self.etag}>"


class R2ObjectBody(R2Object):
    """An object with its contents: `body` (async iterator of bytes) and the readers."""

    def __init__(self, row: tuple, data_file: Any, offset: int, length: int) -> None:
        super().__init__(row, {"offset": offset, "length": length})
        self._file = data_file
        self._offset, self._length = offset, length
        self.bodyUsed = False

    @property
    def body(self) -> AsyncIterator[bytes]:
        self._use()
        return self._chunks()

    async def _chunks(self, size: int = 64 * 1024) -> AsyncIterator[bytes]:
        import asyncio

        remaining = self._length
        try:
            while remaining > 0:
                chunk = await asyncio.to_thread(self._read_at, self._offset, min(size, remaining))
                if not chunk:
                    break
                self._offset += len(chunk)
                remaining -= len(chunk)
                yield chunk
        finally:
            self._file.close()

    def _read_at(self, offset: int, size: int) -> bytes:
        return os.pread(self._file.fileno(), size, offset)

    def __del__(self) -> None:
        if not self.bodyUsed:
            self._file.close()  # never read: release the file now, not at interpreter exit

    def _use(self) -> None:
        if self.bodyUsed:
            raise TypeError("Body has already been used. It can only be used once.")
        self.bodyUsed = True

    async def arrayBuffer(self) -> bytes:
        return b"".join([chunk async for chunk in self.body])

    bytes = arrayBuffer

    async def text(self) -> str:
        return (await self.arrayBuffer()).decode("utf-8", errors="replace")

    async def json(self) -> Any:
        return wrap(json.loads(await self.arrayBuffer()))
