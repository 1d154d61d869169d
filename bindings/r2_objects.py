"""The objects R2 returns: `R2Object` (metadata, what `head` gives) and `R2ObjectBody`
(metadata plus the contents, what `get` gives), as in
https://developers.cloudflare.com/r2/api/workers/workers-api-reference/#r2object-definition.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from emulator.sdk.attrdict import AttrDict, wrap

_HEADER_NAMES = {"contentType": "content-type", "contentLanguage": "content-language",
                 "contentDisposition": "content-disposition",
                 "contentEncoding": "content-encoding", "cacheControl": "cache-control",
                 "cacheExpiry": "expires"}  # fmt: skip


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


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
        camel = _camel(name)
        if camel != name:
            return getattr(self, camel)
        raise AttributeError(name)

    def writeHttpMetadata(self, headers: Any) -> None:
        """Copy the stored HTTP metadata onto a Headers object (or a dict)."""
        for field_name, header in _HEADER_NAMES.items():
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
