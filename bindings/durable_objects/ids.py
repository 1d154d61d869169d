"""Durable Object ids: 64 hex digits, made and checked the way workerd makes them.

workerd's `ActorIdFactoryImpl` (`src/workerd/server/actor-id-impl.c++`) keys each
namespace with `SHA-256(uniqueKey)`, where Miniflare's unique key is
`"<script name>-<class name>"`. An id is 16 bytes (random for `newUniqueId`, the first
half of `HMAC(key, name)` for `idFromName`) followed by the first 16 bytes of
`HMAC(key, those 16 bytes)`. So `idFromName` is deterministic per namespace, gives the
same ids as `wrangler dev`, and `idFromString` can tell an id of another namespace.

Jurisdictions (`newUniqueId(jurisdiction="eu")`, `namespace.jurisdiction("eu")`) are not
implemented by workerd at all; here an id of a jurisdiction is MACed with a key of its
own, so it stays valid 64-hex, and `idFromString` recovers its jurisdiction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

__all__ = ["JURISDICTIONS", "DurableObjectId", "IdFactory"]

#: https://developers.cloudflare.com/durable-objects/reference/data-location/
JURISDICTIONS = ("eu", "fedramp", "fedramp-high")

INVALID_ID = "Invalid Durable Object ID: must be 64 hex digits"
WRONG_NAMESPACE = "Durable Object ID is not valid for this namespace."
_BASE = 16  # bytes of the id that carry its identity; the rest is their MAC


class DurableObjectId:
    """An object's id: `str(id)` / `id.toString()` is its 64 hex digits, `id.name` the
    name it was derived from (None for `newUniqueId` and `idFromString` ids)."""

    __slots__ = ("_hex", "jurisdiction", "name", "namespace_key")

    def __init__(self, hex_id: str, name: str | None, jurisdiction: str | None,
                 namespace_key: str) -> None:  # fmt: skip
        self._hex = hex_id
        self.name = name
        self.jurisdiction = jurisdiction
        self.namespace_key = namespace_key

    def toString(self) -> str:
        return self._hex

    __str__ = toString
    to_string = toString

    def equals(self, other: Any) -> bool:
        return isinstance(other, DurableObjectId) and other._hex == self._hex

    def __eq__(self, other: object) -> bool:
        return self.equals(other)

    def __hash__(self) -> int:
        return hash(self._hex)

    def __repr__(self) -> str:
        named = f", name={self.name!r}" if self.name is not None else ""
        return f"DurableObjectId({self._hex!r}{named})"


class IdFactory:
    """Makes and checks the ids of one namespace (`unique_key` is `"<script>-<class>"`)."""

    def __init__(self, unique_key: str) -> None:
        self.unique_key = unique_key
        self._keys = {None: hashlib.sha256(unique_key.encode()).digest()}
        for jurisdiction in JURISDICTIONS:
            material = f"{unique_key}\0{jurisdiction}".encode()
            self._keys[jurisdiction] = hashlib.sha256(material).digest()

    def new_unique(self, jurisdiction: str | None = None) -> DurableObjectId:
        check_jurisdiction(jurisdiction)
        return self._make(secrets.token_bytes(_BASE), None, jurisdiction)

    def from_name(self, name: Any, jurisdiction: str | None = None) -> DurableObjectId:
        if not isinstance(name, str):
            raise TypeError(f"idFromName() takes a string name, got {type(name).__name__}")
        check_jurisdiction(jurisdiction)
        digest = hmac.digest(self._keys[jurisdiction], name.encode("utf-8", "surrogatepass"),
                             "sha256")  # fmt: skip
        return self._make(digest[:_BASE], name, jurisdiction)

    def from_string(self, text: Any) -> DurableObjectId:
        if not isinstance(text, str) or len(text) != 64:
            raise TypeError(INVALID_ID)
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise TypeError(INVALID_ID) from None
        for jurisdiction, key in self._keys.items():
            if hmac.compare_digest(_mac(key, raw[:_BASE]), raw[_BASE:]):
                return DurableObjectId(raw.hex(), None, jurisdiction, self.unique_key)
        raise TypeError(WRONG_NAMESPACE)

    def _make(self, base: bytes, name: str | None, jurisdiction: str | None) -> DurableObjectId:
        hex_id = (base + _mac(self._keys[jurisdiction], base)).hex()
        return DurableObjectId(hex_id, name, jurisdiction, self.unique_key)


def check_jurisdiction(jurisdiction: Any) -> None:
    if jurisdiction is not None and jurisdiction not in JURISDICTIONS:
        raise ValueError(
            f"Invalid jurisdiction {jurisdiction!r}; expected one of {', '.join(JURISDICTIONS)}"
        )


def _mac(key: bytes, base: bytes) -> bytes:
    return hmac.digest(key, base, "sha256")[:_BASE]
