"""Durable Object storage keys: validation with workerd's limits and messages, the
options checks, and the key range a `list()` call covers (workerd `actor-state.c++`).
Keys are compared as UTF-8 bytes, as Cloudflare orders them."""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_KEYS", "MAX_KEY_SIZE", "RANGE_OPTIONS", "check_count", "key", "key_range",
           "many", "options"]  # fmt: skip

MAX_KEY_SIZE = 2048
MAX_KEYS = 128
RANGE_OPTIONS = frozenset({"start", "startAfter", "end", "prefix", "reverse", "limit"})


def options(given: dict | None, kwargs: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    """The options object (a dict and/or keyword arguments, camelCase or snake_case)."""
    merged = {_camel(k): v for k, v in {**(given or {}), **kwargs}.items()}
    unknown = set(merged) - allowed
    if unknown:
        raise TypeError(
            f"Unknown option(s): {', '.join(sorted(unknown))}; expected "
            f"{', '.join(sorted(allowed))}"
        )
    return merged


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def key(value: Any, many: bool = False) -> bytes:
    """A key as stored (UTF-8), or the error workerd gives for it."""
    if not isinstance(value, str):
        raise TypeError(f"Durable Object storage keys are strings, got {type(value).__name__}")
    try:
        encoded = value.encode()
    except UnicodeEncodeError:
        raise TypeError(f"Key {value!r} is not valid Unicode (a lone surrogate)") from None
    if len(encoded) > MAX_KEY_SIZE:
        if many:
            raise ValueError(f'Key "{value}" is larger than the limit of {MAX_KEY_SIZE} bytes.')
        raise ValueError(f"Keys cannot be larger than {MAX_KEY_SIZE} bytes.")
    return encoded


def check_count(values: Any) -> None:
    if len(values) > MAX_KEYS:
        raise ValueError(f"Maximum number of keys is {MAX_KEYS}.")


def many(values: list[str] | tuple[str, ...]) -> list[bytes]:
    """Up to 128 keys, as stored."""
    check_count(values)
    return [key(value, many=True) for value in values]


def key_range(opts: dict[str, Any]) -> tuple[bytes, bytes | None] | None:
    """`[start, end)` of a `list()` call (end None: no end), None when it is empty.
    `prefix` clamps start and end as workerd does; `startAfter` is exclusive."""
    if opts.get("start") is not None and opts.get("startAfter") is not None:
        raise TypeError("list() cannot be called with both start and startAfter values.")
    start = _bound(opts.get("start")) or b""
    if opts.get("startAfter") is not None:
        start = key(opts["startAfter"]) + b"\0"
    end = _bound(opts.get("end"))
    limit = opts.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or limit <= 0):  # fmt: skip
        raise TypeError("List limit must be positive.")
    prefix = _bound(opts.get("prefix")) or b""
    if prefix:
        if start < prefix:
            start = prefix
        elif not start.startswith(prefix):
            return None
        after = _after_prefix(prefix)
        if after is not None and (end is None or not end.startswith(prefix)):
            if end is not None and end <= prefix:
                return None
            end = after
    if end is not None and end <= start:
        return None
    return start, end


def _bound(value: Any) -> bytes | None:
    return None if value is None else key(value)


def _after_prefix(prefix: bytes) -> bytes | None:
    """The first key after every key starting with `prefix` (None: no such key)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])
