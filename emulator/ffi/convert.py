"""`to_js`, `create_proxy`, `create_once_callable` and `destroy_proxies`, as in `pyodide.ffi`.

Follows Pyodide's conversion table (https://pyodide.org/en/stable/usage/type-conversions.html):
str, numbers, bools and None pass unchanged; lists and tuples become `JsArray`; dicts
become a `JsMap` unless `dict_converter` says otherwise (`dict_converter=js.Object.fromEntries`
gives a plain object, the form JavaScript APIs expect); sets become `JsSet`; bytes-like
objects a `JsBuffer`; anything else a `JsDoubleProxy` (or `default_converter`'s answer).
`depth` limits how deep containers are converted; values already JavaScript (`JsProxy`,
edge's `Request`/`Response`/`Headers`...) are returned as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from emulator.ffi.values import (
    ConversionError,
    JsArray,
    JsBuffer,
    JsDoubleProxy,
    JsMap,
    JsProxy,
    JsSet,
)

__all__ = ["create_once_callable", "create_proxy", "destroy_proxies", "to_js"]

Converter = Callable[[Any, Callable[[Any], Any], Callable[[Any, Any], None]], Any]
_IMMUTABLE = (str, int, float, bool, type(None))


def _is_js(value: Any) -> bool:
    # edge's Fetch classes are what the JavaScript ones are on Cloudflare
    from emulator.sdk import Blob, FormData, Headers, Request, Response

    return isinstance(value, JsProxy | Request | Response | Headers | FormData | Blob)


def to_js(
    obj: Any,
    /,
    *,
    depth: int = -1,
    pyproxies: Any = None,
    create_pyproxies: bool = True,
    dict_converter: Callable[[Iterable[JsArray]], Any] | None = None,
    default_converter: Converter | None = None,
    eager_converter: Converter | None = None,
) -> Any:
    """Convert `obj` to its JavaScript form (see the module docstring)."""
    cache: dict[int, Any] = {}

    def remember(value: Any, result: Any) -> None:
        cache[id(value)] = result

    def convert(value: Any, level: int) -> Any:
        if isinstance(value, _IMMUTABLE) or _is_js(value):
            return value
        if id(value) in cache:
            return cache[id(value)]
        if eager_converter is not None:
            return eager_converter(value, lambda v: default(v, level), remember)
        return default(value, level)

    def default(value: Any, level: int) -> Any:
        if level == 0:
            return proxy(value)
        inner = level - 1
        if isinstance(value, dict):
            if dict_converter is None:
                result = JsMap()
                remember(value, result)
                for key, item in value.items():
                    result[convert(key, inner)] = convert(item, inner)
                return result
            pairs = JsArray(
                JsArray((convert(k, inner), convert(v, inner))) for k, v in value.items()
            )
            result = dict_converter(pairs)
            remember(value, result)
            return result
        if isinstance(value, list | tuple):
            result = JsArray()
            remember(value, result)
            result.extend(convert(item, inner) for item in value)
            return result
        if isinstance(value, set | frozenset):
            return JsSet(convert(item, inner) for item in value)
        if isinstance(value, bytes | bytearray | memoryview):
            return JsBuffer(value)
        if default_converter is not None:
            return default_converter(value, lambda v: convert(v, inner), remember)
        return proxy(value)

    def proxy(value: Any) -> Any:
        if not create_pyproxies:
            raise ConversionError(
                f"No conversion known for {type(value).__name__} (create_pyproxies=False)"
            )
        result = JsDoubleProxy(value)
        if pyproxies is not None:
            pyproxies.append(result)
        return result

    return convert(obj, depth)


def create_proxy(obj: Any, /, *, capture_this: bool = False, roundtrip: bool = True) -> Any:
    """A `JsDoubleProxy` lending `obj` to JavaScript until `destroy()` is called."""
    return JsDoubleProxy(obj)


def create_once_callable(obj: Callable[..., Any], /) -> Any:
    """A callable that JavaScript may call once; a second call raises `JsException`."""
    if not callable(obj):
        raise TypeError(f"create_once_callable needs a callable, got {type(obj).__name__}")
    return JsDoubleProxy(obj, once=True)


def destroy_proxies(pyproxies: Iterable[Any], /) -> None:
    """Destroy every proxy in `pyproxies` (the array given to `to_js(pyproxies=...)`)."""
    for proxy in pyproxies:
        proxy.destroy()
