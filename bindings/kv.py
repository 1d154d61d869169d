"""Workers KV (`[[kv_namespaces]]`), persisted locally in SQLite.

Mirrors the runtime API (https://developers.cloudflare.com/kv/api/) as Python Workers
call it through Pyodide, where keyword arguments become the JS options object:
`await env.KV.get("k", type="json")`, `await env.KV.put("k", "v", expirationTtl=120,
metadata={...})`, `await env.KV.list(prefix="user:", limit=10, cursor=...)`. A dict as
the last positional argument is read as the options object too, and snake_case names
(`expiration_ttl`, `get_with_metadata`) are accepted. Limits and error texts follow
Miniflare's KV validation (keys <= 512 bytes, not "", "." or ".."; TTL >= 60 s;
metadata <= 1024 bytes; values <= 25 MiB; list limit 1-1000).
Storage: `<state>/v3/kv/<namespace id>/kv.sqlite`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from bindings.contract import BindingHost, BindingKind, BindingSpec, Field
from bindings.storage import (
    SqliteFile,
    binding_path,
    decode_cursor,
    encode_cursor,
    shared_db,
    usv,
)
from emulator.errors import EdgeError
from emulator.sdk.attrdict import AttrDict, wrap

MAX_KEY_SIZE = 512
MAX_VALUE_SIZE = 25 * 1024 * 1024
MAX_METADATA_SIZE = 1024
MAX_LIST_KEYS = 1000
MIN_TTL = 60

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expiration INTEGER,
    metadata TEXT
);
"""

_TYPES = {"text", "json", "arrayBuffer", "bytes", "stream"}


class KvError(EdgeError):
    """A rejected KV operation; the message is Cloudflare's / Miniflare's."""


class KvNamespace:
    """`env.<BINDING>` for one KV namespace."""

    def __init__(self, db: SqliteFile, namespace_id: str, clock: Any = time.time) -> None:
        self._db = db
        self.namespace_id = namespace_id
        self._clock = clock

    def describe(self) -> list[str]:
        return [f"namespace {self.namespace_id} at {self._db.path.parent}"]

    # ---- reads -------------------------------------------------------------------------

    async def get(self, key: str | list[str], type: str | dict | None = None, **options) -> Any:
        """The value, or None. `type`: "text" (default), "json", "arrayBuffer"/"bytes",
        "stream" (an async iterator of bytes). A list of keys returns a dict."""
        value_type = _value_type(type, options)
        if isinstance(key, list | tuple):
            if value_type not in ("text", "json"):
                raise KvError(f'"{value_type}" is not a valid type: use "text" or "json"')
            if len(key) > 100:
                raise KvError("You can request a maximum of 100 keys")
            found = {}
            for item in key:
                row = await self._read(item)
                found[item] = None if row is None else _decode(row[0], value_type)
            return found
        row = await self._read(key)
        return None if row is None else _decode(row[0], value_type)

    async def getWithMetadata(
        self, key: str, type: str | dict | None = None, **options
    ) -> AttrDict:
        """`{value, metadata, cacheStatus}`; value and metadata are None when missing."""
        value_type = _value_type(type, options)
        row = await self._read(key)
        if row is None:
            return AttrDict(value=None, metadata=None, cacheStatus=None)
        metadata = None if row[1] is None else json.loads(row[1])
        return AttrDict(value=_decode(row[0], value_type), metadata=metadata, cacheStatus=None)

    get_with_metadata = getWithMetadata

    async def _read(self, key: str) -> tuple[bytes, str | None] | None:
        key = _validate_key(key)
        now = int(self._clock())

        def read(conn):
            row = conn.execute(
                "SELECT value, metadata, expiration FROM entries WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            if row[2] is not None and row[2] <= now:
                conn.execute("DELETE FROM entries WHERE key = ? AND expiration <= ?", (key, now))
                return None
            return bytes(row[0]), row[1]

        return await self._db.run(read)

    # ---- writes ------------------------------------------------------------------------

    async def put(self, key: str, value: Any, options: dict | None = None, **kwargs) -> None:
        """Store `value` (str, bytes-like, or an async iterable of bytes) under `key`.
        Options: `expiration` (epoch seconds), `expirationTtl` (seconds, >= 60),
        `metadata` (JSON-serialisable, <= 1024 bytes)."""
        opts = _options(options, kwargs, {"expiration", "expirationTtl", "metadata"})
        key = _validate_key(key)
        data = await _to_bytes(value)
        if len(data) > MAX_VALUE_SIZE:
            raise KvError(f"Value length of {len(data)} exceeds limit of {MAX_VALUE_SIZE}.")
        now = int(self._clock())
        expiration = _expiration(opts, now)
        metadata = None
        if opts.get("metadata") is not None:
            try:
                metadata = json.dumps(_plain(opts["metadata"]), separators=(",", ":"),
                                      allow_nan=False)  # fmt: skip
            except (TypeError, ValueError) as exc:
                raise KvError(f"Metadata must be serialisable to JSON: {exc}") from None
            size = len(metadata.encode())
            if size > MAX_METADATA_SIZE:
                raise KvError(f"Metadata length of {size} exceeds limit of {MAX_METADATA_SIZE}.")
        await self._db.run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO entries (key, value, expiration, metadata)"
                " VALUES (?, ?, ?, ?)",
                (key, data, expiration, metadata),
            )
        )

    async def delete(self, key: str) -> None:
        key = _validate_key(key)
        await self._db.run(lambda conn: conn.execute("DELETE FROM entries WHERE key = ?", (key,)))

    # ---- listing -----------------------------------------------------------------------

    async def list(self, options: dict | None = None, **kwargs) -> AttrDict:
        """Keys in lexicographic (UTF-8 byte) order:
        `{keys: [{name, expiration?, metadata?}], list_complete, cursor?, cacheStatus}`."""
        opts = _options(options, kwargs, {"prefix", "limit", "cursor"})
        prefix = opts.get("prefix") or ""
        if not isinstance(prefix, str):
            raise KvError(f"Prefix must be a string, got {type(prefix).__name__}")
        prefix = usv(prefix)
        limit = opts.get("limit", MAX_LIST_KEYS)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise KvError(
                f"Invalid key_count_limit of {limit}. Please specify an integer greater than 0."
            )
        if limit > MAX_LIST_KEYS:
            raise KvError(
                f"Invalid key_count_limit of {limit}. Please specify an integer less than 1001."
            )
        after = _cursor_key(opts.get("cursor"))
        now = int(self._clock())

        def query(conn):
            rows = conn.execute(
                "SELECT key, expiration, metadata FROM entries"
                " WHERE key > ? AND substr(key, 1, ?) = ?"
                " AND (expiration IS NULL OR expiration > ?)"
                " ORDER BY key LIMIT ?",  # BINARY collation: UTF-8 byte order
                (after, len(prefix), prefix, now, limit + 1),
            ).fetchall()
            return rows

        rows = await self._db.run(query)
        complete = len(rows) <= limit
        rows = rows[:limit]
        keys = []
        for name, expiration, metadata in rows:
            item: dict[str, Any] = {"name": name}
            if expiration is not None:
                item["expiration"] = expiration
            if metadata is not None:
                item["metadata"] = json.loads(metadata)
            keys.append(item)
        result: dict[str, Any] = {"keys": keys, "list_complete": complete, "cacheStatus": None}
        if not complete:
            result["cursor"] = encode_cursor(rows[-1][0])
        return KvListResult(result)


class _KeysList(list):
    """The `keys` array of a list result, also callable as `dict.keys()` so the result
    stays a well-behaved dict (`dict(result)`, `{**result}` call `.keys()`)."""

    def __init__(self, items: Any, owner: dict) -> None:
        super().__init__(items)
        self._owner = owner

    def __call__(self) -> Any:
        return dict.keys(self._owner)


class KvListResult(AttrDict):
    """`list()`'s result: `result.keys` is the array of keys, as on Cloudflare (where
    the result is a JS object), rather than the `dict.keys` method."""

    __slots__ = ()

    @property
    def keys(self) -> _KeysList:  # type: ignore[override]
        return _KeysList(self["keys"], self)


def build(spec: BindingSpec, host: BindingHost) -> KvNamespace:
    """`env.<binding>`: the namespace `id` (or the binding name when there is none)."""
    namespace_id = spec.options.get("id") or spec.name
    path = binding_path(host, spec, "v3", "kv", namespace_id, "kv.sqlite")
    db = shared_db(host, f"kv:{path}", path, SCHEMA)
    return KvNamespace(db, namespace_id)


KIND = BindingKind(
    "kv_namespaces",
    "KV Namespace",
    fields={"id": Field(), "preview_id": Field()},
    value_keys=("id",),
    build=build,
    describe=KvNamespace.describe,
)


# ---- helpers ---------------------------------------------------------------------------


def _validate_key(key: Any) -> str:
    """The key as KV stores it (see `usv`), or KvError."""
    if not isinstance(key, str):
        raise KvError(f"Key must be a string, got {type(key).__name__}")
    key = usv(key)
    if key == "":
        raise KvError("Key names must not be empty")
    if key in (".", ".."):
        raise KvError(f'Illegal key name "{key}". Please use a different name.')
    size = len(key.encode())
    if size > MAX_KEY_SIZE:
        raise KvError(f"UTF-8 encoded length of {size} exceeds key length limit of {MAX_KEY_SIZE}.")
    return key


def _value_type(type_: str | dict | None, options: dict) -> str:
    if isinstance(type_, dict):  # get(key, {"type": "json", "cacheTtl": 60})
        options = {**type_, **options}
        type_ = None
    value_type = type_ or options.get("type") or "text"
    if not isinstance(value_type, str):
        raise KvError(f'Unknown response type {value_type!r}: use "text", "json", "arrayBuffer"'
                      ' or "stream"')  # fmt: skip
    unknown = set(options) - {"type", "cacheTtl", "cache_ttl"}
    if unknown:
        raise KvError(f"Unknown option(s) for get: {', '.join(sorted(unknown))}")
    cache_ttl = options.get("cacheTtl", options.get("cache_ttl"))
    if cache_ttl is not None and (not _number(cache_ttl) or cache_ttl < 30):
        # accepted and ignored otherwise: one local "edge location" has nothing to cache
        raise KvError(f"Invalid cache_ttl of {cache_ttl}. Cache TTL must be at least 30.")
    if value_type not in _TYPES:
        raise KvError(
            f'Unknown response type "{value_type}": use "text", "json", "arrayBuffer" or "stream"'
        )
    return value_type


def _options(options: dict | None, kwargs: dict, allowed: set[str]) -> dict[str, Any]:
    merged = dict(options or {})
    for name, value in kwargs.items():
        merged[_camel(name)] = value
    merged = {_camel(k): v for k, v in merged.items()}
    unknown = set(merged) - allowed
    if unknown:
        names, expected = ", ".join(sorted(unknown)), ", ".join(sorted(allowed))
        raise KvError(f"Unknown option(s): {names}; expected {expected}")
    return merged


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _number(value: Any) -> bool:
    """A finite number a timestamp can hold (JavaScript's safe integer range)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and abs(value) <= 2**53)  # fmt: skip


def _expiration(opts: dict[str, Any], now: int) -> int | None:
    if opts.get("expirationTtl") is not None:
        ttl = opts["expirationTtl"]
        if not _number(ttl) or ttl < MIN_TTL:
            raise KvError(
                f"Invalid expiration_ttl of {ttl}. Expiration TTL must be at least {MIN_TTL}."
            )
        return now + int(ttl)
    if opts.get("expiration") is not None:
        expiration = opts["expiration"]
        if not _number(expiration):
            raise KvError(f"Invalid expiration of {expiration}.")
        if expiration < now + MIN_TTL:
            raise KvError(
                f"Invalid expiration of {expiration}. Expiration times must be at least "
                f"{MIN_TTL} seconds in the future."
            )
        return int(expiration)
    return None


async def _to_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return usv(value).encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, AsyncIterable):
        chunks = []
        async for chunk in value:
            chunks.append(usv(chunk).encode() if isinstance(chunk, str) else bytes(chunk))
        return b"".join(chunks)
    raise KvError(
        f"KV put() accepts only strings, bytes and streams as values, got {type(value).__name__}"
        " (use json.dumps for other values)"
    )


def _decode(data: bytes, value_type: str) -> Any:
    if value_type == "text":
        return data.decode("utf-8", errors="replace")
    if value_type == "json":
        return wrap(json.loads(data))
    if value_type == "stream":
        return _stream(data)
    return data


async def _stream(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]



def _plain(value: Any) -> Any:
    return value.to_py() if isinstance(value, AttrDict) else value


def _cursor_key(cursor: Any) -> str:
    key = decode_cursor(cursor)
    if key is None:
        raise KvError(f"Invalid cursor {cursor!r}")
    return key
