"""The `js` module: the JavaScript globals Python workers use, over edge's own objects.

Through Pyodide a worker calls JavaScript classes with `.new(...)` and keyword arguments
become the trailing options object (`Response.new("hi", status=201, headers=...)` is
`new Response("hi", {status: 201, headers})`). Here the classes build edge's objects:
`Response.new` / `fetch` give a `workers.Response`, `Request.new` a `workers.Request`,
`Headers.new` a `workers.Headers` (each also speaks the JavaScript API), and JavaScript's
exceptions arrive as `JsException` (`TypeError`, `RangeError`, `SyntaxError`), as they do
through Pyodide.

`GLOBALS` is the emulated set (listed in docs/ffi.md); any other name raises
`NotEmulatedName` naming it. Known pitfalls keep Cloudflare's outcome but are reported:
a `to_js(dict)` without `dict_converter` is a JavaScript `Map`, which `JSON.stringify`
turns into `{}` and which a `Response` init ignores -- edge does the same and logs why.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import math
import random
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, unquote

from emulator.errors import NotEmulatedError, NotEmulatedName
from emulator.ffi import date
from emulator.ffi.url import JsURL, JsURLSearchParams
from emulator.ffi.values import (
    JsArray,
    JsBuffer,
    JsDoubleProxy,
    JsException,
    JsMap,
    JsProxy,
    JsSet,
    jsnull,
)
from emulator.sdk.attrdict import AttrDict, wrap

__all__ = ["GLOBALS", "missing"]

log = logging.getLogger("edge.ffi")
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


@contextlib.contextmanager
def _as_js_errors() -> Iterator[None]:
    """Python's errors from edge's objects, as JavaScript's errors reach Python."""
    try:
        yield
    except JsException:
        raise
    except TypeError as exc:
        raise JsException("TypeError", str(exc)) from exc
    except ValueError as exc:
        raise JsException("RangeError", str(exc)) from exc


def _options(init: Any, kwargs: dict[str, Any], what: str) -> dict[str, Any]:
    """A JavaScript options object (positional `init` and/or keyword arguments) as a dict."""
    options: dict[str, Any] = {}
    if isinstance(init, JsMap):
        _warn_once(
            f"map-init-{what}",
            f"{what}: the options object is a JavaScript Map (to_js(dict) without "
            "dict_converter), whose entries JavaScript does not read as options: they are "
            "ignored, as on Cloudflare. Use to_js(d, dict_converter=js.Object.fromEntries) "
            "or keyword arguments",
        )
    elif isinstance(init, JsDoubleProxy):
        options.update(init.unwrap())
    elif isinstance(init, Mapping):
        options.update(init)
    elif init is not None and init is not jsnull:
        raise JsException("TypeError", f"{what}: the options argument must be an object")
    options.update(kwargs)
    return options


def _body(body: Any) -> Any:
    if body is jsnull:
        return None
    if isinstance(body, JsDoubleProxy):
        body = body.unwrap()
    if isinstance(body, JsURLSearchParams):
        return body.toString()
    return body


class _Class:
    """A JavaScript class seen from Python: `X.new(...)` constructs; calling `X()` is a
    TypeError, as it is for JavaScript classes."""

    name = "Object"

    def new(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise JsException(
            "TypeError", f"Class constructor {self.name} cannot be invoked without 'new' "
            f"(use {self.name}.new(...))"
        )

    def __repr__(self) -> str:
        return f"[class {self.name}]"


class _Response(_Class):
    name = "Response"

    def new(self, body: Any = None, init: Any = None, **kwargs: Any) -> Any:
        from emulator.sdk import Response

        options = _options(init, kwargs, "new Response()")
        if options.get("webSocket") is not None:
            raise NotEmulatedError("Response webSocket: WebSockets are not emulated by edge")
        with _as_js_errors():
            response = Response(
                _body(body), options.get("status"), options.get("headers"),
                options.get("statusText"),
            )
            if isinstance(body, JsURLSearchParams):
                response._default_content_type(
                    "application/x-www-form-urlencoded;charset=UTF-8"
                )
            return response

    def json(self, data: Any, init: Any = None, **kwargs: Any) -> Any:
        text = stringify(data)
        response = self.new(None if text is None else text.encode(), init, **kwargs)
        if not response.headers.has("content-type"):
            response.headers.set("content-type", "application/json")
        return response

    def redirect(self, url: Any, status: int = 302) -> Any:
        from emulator.sdk import Response

        with _as_js_errors():
            return Response.redirect(str(url), status)


class _Request(_Class):
    name = "Request"

    def new(self, input: Any, init: Any = None, **kwargs: Any) -> Any:
        from emulator.sdk import Request

        options = _options(init, kwargs, "new Request()")
        url = input.href if isinstance(input, JsURL) else input
        with _as_js_errors():
            return Request(
                url, options.get("method"), options.get("headers"),
                _body(options.get("body")), redirect=options.get("redirect") or "follow",
                cf=options.get("cf"),
            )


class _Headers(_Class):
    name = "Headers"

    def new(self, init: Any = None) -> Any:
        from emulator.sdk import Headers

        with _as_js_errors():
            return Headers(None if init is jsnull else init)


async def fetch(resource: Any, init: Any = None, **kwargs: Any) -> Any:
    """The global `fetch`: a network failure rejects with JavaScript's TypeError."""
    from emulator.sdk import fetch as sdk_fetch

    options = _options(init, kwargs, "fetch()")
    if isinstance(resource, JsURL):
        resource = resource.href
    try:
        with _as_js_errors():
            return await sdk_fetch(
                resource, method=options.get("method"), headers=options.get("headers"),
                body=_body(options.get("body")), redirect=options.get("redirect"),
            )
    except OSError as exc:
        raise JsException("TypeError", f"fetch failed: {exc}") from exc


# -- Object, Array, JSON ----------------------------------------------------------------


def _from_entries(entries: Any) -> AttrDict:
    if isinstance(entries, Mapping) and not isinstance(entries, JsMap):
        first = next(iter(entries), None)
        raise JsException(
            "TypeError", f"Iterator value {first} is not an entry object (pass d.items())"
        )
    result = AttrDict()
    for entry in entries:
        if isinstance(entry, str) or len(entry) < 2:
            raise JsException("TypeError", f"Iterator value {entry} is not an entry object")
        result[str(entry[0])] = entry[1]
    return result


def _own(value: Any) -> dict[str, Any]:
    if isinstance(value, JsMap | JsSet):
        return {}  # a Map's entries are not properties
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


Object = SimpleNamespace(
    fromEntries=_from_entries,
    keys=lambda value: JsArray(_own(value)),
    values=lambda value: JsArray(_own(value).values()),
    entries=lambda value: JsArray(JsArray(pair) for pair in _own(value).items()),
    assign=lambda target, *sources: _assign(target, sources),
    new=lambda: AttrDict(),
)


def _assign(target: Any, sources: tuple[Any, ...]) -> Any:
    for source in sources:
        target.update(_own(source))
    return target


Array = SimpleNamespace(
    new=lambda *items: JsArray([None] * items[0]) if len(items) == 1 and
    isinstance(items[0], int) else JsArray(items),
    of=lambda *items: JsArray(items),
    from_=lambda iterable: JsArray(iterable),
    isArray=lambda value: isinstance(value, list),
)


def _json_default(value: Any) -> Any:
    if isinstance(value, JsMap | JsSet):
        _warn_once(
            "stringify-map",
            "JSON.stringify: a JavaScript Map/Set serialises as {} (to_js(dict) without "
            "dict_converter makes a Map); use to_js(d, dict_converter=js.Object.fromEntries)",
        )
        return {}
    if isinstance(value, JsBuffer):
        return {str(i): byte for i, byte in enumerate(value)}
    if isinstance(value, JsDoubleProxy):
        return value.unwrap()
    to_json = getattr(value, "toJSON", None)
    if callable(to_json):
        return to_json()
    if isinstance(value, tuple):
        return list(value)
    return {}  # other objects have no enumerable data properties


def stringify(value: Any, replacer: Any = None, space: Any = None) -> str | None:
    """`JSON.stringify`: compact unless `space`; `None` (undefined) gives None."""
    if replacer is not None and replacer is not jsnull:
        raise NotEmulatedError("JSON.stringify(value, replacer): replacer is not emulated")
    if value is None:
        return None
    if value is jsnull:
        return "null"
    indent = space if isinstance(space, str) else (min(int(space), 10) if space else None)
    separators = (",", ": ") if indent else (",", ":")
    try:
        return json.dumps(value, default=_json_default, ensure_ascii=False,
                          separators=separators, indent=indent or None)
    except ValueError as exc:  # a cycle
        raise JsException("TypeError", f"Converting circular structure to JSON ({exc})") from exc


def parse_json(text: Any, reviver: Any = None) -> Any:
    """`JSON.parse`: objects come back as JS objects (`o.x`, `o.to_py()`)."""
    if reviver is not None:
        raise NotEmulatedError("JSON.parse(text, reviver): reviver is not emulated")
    text = str(text)
    try:
        return wrap(json.loads(text, object_hook=AttrDict))
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            raise JsException("SyntaxError", "Unexpected end of JSON input") from None
        shown = text if len(text) <= 30 else text[:30] + "..."
        raise JsException(
            "SyntaxError", f"Unexpected token '{text[exc.pos]}', \"{shown}\" is not valid JSON"
        ) from None


JSON = SimpleNamespace(stringify=stringify, parse=parse_json)


# -- console, timers, encodings -------------------------------------------------------


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "undefined"
    if value is jsnull:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, JsException):
        return value.stack
    if isinstance(value, Mapping | list | JsProxy):
        with contextlib.suppress(Exception):
            return stringify(value) or "undefined"
    return str(value)


def _printer(stream: str) -> Any:
    def log_(*args: Any) -> None:
        print(" ".join(_format(a) for a in args), file=getattr(sys, stream), flush=True)

    return log_


console = SimpleNamespace(
    log=_printer("stdout"), info=_printer("stdout"), debug=_printer("stdout"),
    warn=_printer("stderr"), error=_printer("stderr"), trace=_printer("stderr"),
)

_timer_ids = itertools.count(1)
_timers: dict[int, asyncio.TimerHandle] = {}
_running: set[asyncio.Task[Any]] = set()


def set_timeout(callback: Any, delay: float = 0, *args: Any) -> int:
    """`setTimeout`: runs `callback(*args)` on the event loop after `delay` milliseconds."""
    loop = asyncio.get_running_loop()
    timer_id = next(_timer_ids)

    def fire() -> None:
        _timers.pop(timer_id, None)
        result = callback(*args)
        if asyncio.iscoroutine(result):
            task = loop.create_task(result)
            _running.add(task)
            task.add_done_callback(_running.discard)

    _timers[timer_id] = loop.call_later(max(float(delay or 0), 0) / 1000, fire)
    return timer_id


def clear_timeout(timer_id: Any) -> None:
    handle = _timers.pop(timer_id, None) if isinstance(timer_id, int) else None
    if handle is not None:
        handle.cancel()


def btoa(text: Any) -> str:
    text = str(text)
    try:
        return base64.b64encode(text.encode("latin-1")).decode("ascii")
    except UnicodeEncodeError:
        raise JsException(
            "InvalidCharacterError", "Invalid character: btoa() takes Latin-1 text"
        ) from None


def atob(data: Any) -> str:
    text = "".join(str(data).split())
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode("latin-1")
    except ValueError:
        raise JsException(
            "InvalidCharacterError", "The string to be decoded is not correctly encoded."
        ) from None


_RESERVED_ESCAPE = re.compile(r"%(3B|2C|2F|3F|3A|40|26|3D|2B|24|23)", re.IGNORECASE)


def _uri_decoder(keep_reserved: bool) -> Any:
    """decodeURIComponent, or decodeURI (which keeps escapes of reserved characters)."""

    def decode(text: Any) -> str:
        text = str(text)
        if keep_reserved:
            text = _RESERVED_ESCAPE.sub(lambda m: "\0" + m.group(1), text)
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise JsException("URIError", "URI malformed") from None
        return decoded.replace("\0", "%") if keep_reserved else decoded

    return decode


class _TextEncoder(_Class):
    name = "TextEncoder"

    def new(self) -> Any:
        return SimpleNamespace(
            encoding="utf-8", encode=lambda text="": JsBuffer(str(text).encode())
        )


class _TextDecoder(_Class):
    name = "TextDecoder"

    def new(self, label: str = "utf-8", options: Any = None, **kwargs: Any) -> Any:
        fatal = bool(_options(options, kwargs, "new TextDecoder()").get("fatal"))

        def decode(data: Any = b"", options: Any = None) -> str:
            try:
                return bytes(data).decode(label, errors="strict" if fatal else "replace")
            except UnicodeDecodeError as exc:
                raise JsException("TypeError", f"The encoded data was not valid: {exc}") from None

        return SimpleNamespace(encoding=label.lower(), fatal=fatal, decode=decode)


class _Uint8Array(_Class):
    name = "Uint8Array"

    def new(self, source: Any = 0) -> JsBuffer:
        if isinstance(source, int):
            return JsBuffer(source)
        with _as_js_errors():
            return JsBuffer(bytes(source))


class _Error(_Class):
    """`Error` / `TypeError` / ...: `Error.new(msg)` and `Error(msg)` both make one."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stackTraceLimit = 10

    def new(self, message: Any = "") -> JsException:
        return JsException(self.name, "" if message is None else str(message))

    __call__ = new


def _wrapped(factory: Any, name: str) -> _Class:
    """A JavaScript class whose instances are an existing Python class's."""

    class Wrapped(_Class):
        def new(self, *args: Any, **kwargs: Any) -> Any:
            with _as_js_errors():
                return factory(*args, **kwargs)

    Wrapped.name = name
    return Wrapped()


def _form_data(*args: Any) -> Any:
    from emulator.sdk import FormData

    return FormData(*args)


def _blob(parts: Any = (), options: Any = None, **kwargs: Any) -> Any:
    from emulator.sdk import Blob

    return Blob(parts, _options(options, kwargs, "new Blob()").get("type"))


def _file(parts: Any, name: str, options: Any = None, **kwargs: Any) -> Any:
    from emulator.sdk import File

    return File(parts, name, _options(options, kwargs, "new File()").get("type"))


_Date = _wrapped(date.JsDate, "Date")
_Date.now = date.now  # type: ignore[attr-defined]
_Date.parse = date.parse  # type: ignore[attr-defined]
_Date.UTC = date.utc  # type: ignore[attr-defined]
_URL = _wrapped(JsURL, "URL")
_URL.canParse = JsURL.canParse  # type: ignore[attr-defined]

Math = SimpleNamespace(
    random=random.random, floor=math.floor, ceil=math.ceil, trunc=math.trunc,
    round=lambda x: math.floor(x + 0.5), abs=abs, max=max, min=min, pow=pow,
    sqrt=math.sqrt, log=math.log, exp=math.exp, sign=lambda x: (x > 0) - (x < 0),
    PI=math.pi, E=math.e,
)

class _Crypto:
    """`crypto`: only `randomUUID` (buffers here are read-only; no SubtleCrypto)."""

    @staticmethod
    def randomUUID() -> str:
        return str(uuid.uuid4())

    def __getattr__(self, name: str) -> Any:
        raise NotEmulatedName(f"crypto.{name} is not emulated by edge (only randomUUID)")


crypto = _Crypto()

#: The emulated globals, by name.
GLOBALS: dict[str, Any] = {
    "Response": _Response(),
    "Request": _Request(),
    "Headers": _Headers(),
    "fetch": fetch,
    "Object": Object,
    "Array": Array,
    "JSON": JSON,
    "console": console,
    "URL": _URL,
    "URLSearchParams": _wrapped(JsURLSearchParams, "URLSearchParams"),
    "Date": _Date,
    "Math": Math,
    "Error": _Error("Error"),
    "TypeError": _Error("TypeError"),
    "RangeError": _Error("RangeError"),
    "SyntaxError": _Error("SyntaxError"),
    "Uint8Array": _Uint8Array(),
    "TextEncoder": _TextEncoder(),
    "TextDecoder": _TextDecoder(),
    "FormData": _wrapped(_form_data, "FormData"),
    "Blob": _wrapped(_blob, "Blob"),
    "File": _wrapped(_file, "File"),
    "crypto": crypto,
    "atob": atob,
    "btoa": btoa,
    "encodeURIComponent": lambda text: quote(str(text), safe="-_.!~*'()"),
    "encodeURI": lambda text: quote(str(text), safe="-_.!~*'();,/?:@&=+$#"),
    "decodeURIComponent": _uri_decoder(False),
    "decodeURI": _uri_decoder(True),
    "setTimeout": set_timeout,
    "clearTimeout": clear_timeout,
}

# Names workers reach for that edge does not emulate, with what to use instead.
_ALTERNATIVES = {
    "WebSocketPair": "WebSockets are not emulated",
    "WebSocket": "WebSockets are not emulated",
    "HTMLRewriter": "HTMLRewriter is not emulated",
    "caches": "the Cache API is not emulated",
    "ReadableStream": "return an async generator as the Response body instead",
    "TransformStream": "return an async generator as the Response body instead",
    "WritableStream": "streams are not emulated; use async generators",
    "Promise": "await coroutines instead",
    "AbortController": "use asyncio timeouts instead",
}


def missing(name: str) -> NotEmulatedName:
    """The error for a `js` name edge does not emulate."""
    why = _ALTERNATIVES.get(name)
    known = ", ".join(sorted(GLOBALS))
    return NotEmulatedName(
        f"js.{name} is not emulated by edge" + (f" ({why})" if why else "")
        + f"; edge's js module has: {known}"
    )
