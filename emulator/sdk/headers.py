"""`Headers`: the Fetch standard's header list, case-insensitive and multi-valued.

Behaviour follows the WHATWG Fetch `Headers` class as workerd implements it
(https://developer.mozilla.org/en-US/docs/Web/API/Headers): names are lower-cased, values
trimmed; `get()` joins repeated values with ", "; iteration is sorted by name and combines
repeats, except `set-cookie`, which stays one entry per cookie (`getSetCookie()`).
Cloudflare's Python SDK exposes `Request.headers` as an `http.client.HTTPMessage`, so
its item access (`headers["x"]` -> value or None) and `get_all()` work here too.

Insertion order and separate values are kept internally, so `raw()` hands the server
exactly what the worker set, as ASGI byte pairs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["Headers", "HeadersInit"]

HeadersInit = "Headers | Mapping[str, str] | Iterable[tuple[str, str]]"

# RFC 9110 token characters: what Fetch accepts as a header name.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_WHITESPACE = " \t\r\n"


# Names already seen valid -> their lower-case form: most requests repeat the same few.
_valid_names: dict[str, str] = {}


def _check_name(name: Any) -> str:
    known = _valid_names.get(name) if isinstance(name, str) else None
    if known is not None:
        return known
    if not isinstance(name, str):
        raise TypeError(f"header name must be a str, got {type(name).__name__}")
    if not _TOKEN.match(name):
        raise TypeError(f"Invalid header name: {name!r}")
    if len(_valid_names) < 4096:
        _valid_names[name] = name.lower()
    return name.lower()


def _check_value(name: str, value: Any) -> str:
    if type(value) is str and "\n" not in value and "\r" not in value and "\0" not in value:
        return value.strip(_WHITESPACE)
    if not isinstance(value, str):
        if isinstance(value, bytes | int | float):
            value = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        else:
            raise TypeError(
                f"header {name!r}: value must be a str, got {type(value).__name__}"
            )
    value = value.strip(_WHITESPACE)
    if _BAD_VALUE.search(value):
        raise TypeError(f"Invalid header value for {name!r}: {value!r}")
    return value


class Headers:
    """Case-insensitive, multi-valued HTTP headers with the JavaScript `Headers` API."""

    __slots__ = ("_list",)

    def __init__(self, init: Any = None) -> None:
        self._list: list[tuple[str, str]] = []
        if init is None:
            return
        if isinstance(init, Headers):
            self._list = init._list.copy()
            return
        if isinstance(init, str | bytes):
            raise TypeError("headers must be a dict, a list of (name, value) pairs or Headers")
        multi = getattr(init, "multi_items", None)  # httpx.Headers, starlette's Headers
        if multi is not None:
            pairs: Iterable[Any] = multi()
        elif isinstance(init, Mapping) or hasattr(init, "items"):
            pairs = init.items()
        else:
            pairs = init
        try:
            for pair in pairs:
                if isinstance(pair, str | bytes) or len(pair) != 2:
                    raise TypeError(
                        f"header entries must be (name, value) pairs, got {pair!r}"
                    )
                self.append(pair[0], pair[1])
        except TypeError as exc:
            if "header" in str(exc):
                raise
            raise TypeError(
                "headers must be a dict, a list of (name, value) pairs or Headers, "
                f"got {type(init).__name__}"
            ) from exc

    @classmethod
    def from_raw(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Trusted byte pairs with lower-case names (an ASGI scope's `headers`): no checks."""
        self = cls.__new__(cls)
        self._list = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
        return self

    def raw(self) -> list[tuple[bytes, bytes]]:
        """The headers in insertion order, one pair per value, as ASGI byte pairs."""
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self._list]

    # -- the JavaScript API ---------------------------------------------------------------

    def get(self, name: str, default: Any = None) -> str | None:
        """All values of `name` joined with ", ", or `default` (None) when absent."""
        name = name.lower()
        values = [v for k, v in self._list if k == name]
        if not values:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def has(self, name: str) -> bool:
        name = name.lower()
        for key, _ in self._list:  # noqa: SIM110 - a plain loop is faster on this hot path
            if key == name:
                return True
        return False

    def set(self, name: str, value: Any) -> None:
        key = _check_name(name)
        value = _check_value(key, value)
        new: list[tuple[str, str]] = []
        placed = False
        for item in self._list:
            if item[0] == key:
                if not placed:  # the first occurrence keeps its position, as in Fetch
                    new.append((key, value))
                    placed = True
            else:
                new.append(item)
        if not placed:
            new.append((key, value))
        self._list = new

    def append(self, name: str, value: Any) -> None:
        key = _check_name(name)
        self._list.append((key, _check_value(key, value)))

    def delete(self, name: str) -> None:
        name = name.lower()
        self._list = [item for item in self._list if item[0] != name]

    def getSetCookie(self) -> list[str]:
        return [v for k, v in self._list if k == "set-cookie"]

    get_set_cookie = getSetCookie

    def entries(self) -> Iterator[tuple[str, str]]:
        """(name, value) pairs sorted by name, repeats combined (set-cookie kept apart)."""
        combined: dict[str, list[str]] = {}
        for key, value in self._list:
            combined.setdefault(key, []).append(value)
        for key in sorted(combined):
            values = combined[key]
            if key == "set-cookie":
                for value in values:
                    yield key, value
            else:
                yield key, ", ".join(values)

    items = entries

    def keys(self) -> Iterator[str]:
        for key, _ in self.entries():
            yield key

    def values(self) -> Iterator[str]:
        for _, value in self.entries():
            yield value

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return self.entries()

    def forEach(self, callback: Any) -> None:
        for key, value in self.entries():
            callback(value, key, self)

    # -- http.client.HTTPMessage compatibility (Cloudflare's Python SDK) ------------------

    def __getitem__(self, name: str) -> str | None:
        # HTTPMessage returns None for a missing header instead of raising.
        return self.get(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        self.delete(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.has(name)

    def get_all(self, name: str, failobj: Any = None) -> list[str] | Any:
        name = name.lower()
        values = [v for k, v in self._list if k == name]
        return values or failobj

    def __len__(self) -> int:
        return len({k for k, _ in self._list})

    def __bool__(self) -> bool:
        return bool(self._list)

    def copy(self) -> Headers:
        return Headers(self)

    def to_dict(self) -> dict[str, str]:
        """A plain dict (repeats combined; set-cookie values joined with ", ")."""
        return {key: self.get(key) or "" for key in dict.fromkeys(k for k, _ in self._list)}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted(self._list) == sorted(other._list)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({list(self.entries())!r})"
