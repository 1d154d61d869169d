"""JavaScript values as Python sees them through Pyodide's FFI, made of Python objects.

Pyodide (https://pyodide.org/en/stable/usage/type-conversions.html, `pyodide.ffi`)
hands Python a `JsProxy` for every JavaScript object; edge has no JavaScript, so these
classes stand in for the proxies workers actually meet:

- a plain object is an `AttrDict` (`emulator.sdk.attrdict`: `o.x`, `o.to_py()`), the shape
  bindings already return;
- `JsArray`: a JavaScript `Array` (a `list` with `to_py()`, `push`, `length`);
- `JsMap`: a JavaScript `Map`, what `to_js(dict)` makes without a `dict_converter`: a
  mapping (`m["k"]`, `m.get`, `m.has`), not an object, so `JSON.stringify` gives `{}`;
- `JsSet`: a JavaScript `Set`;
- `JsBuffer`: an `ArrayBuffer` / `Uint8Array` (`bytes` with `to_bytes()`, `to_memoryview()`,
  `to_string()`), what `arrayBuffer()` resolves to;
- `JsDoubleProxy`: a Python object handed to JavaScript (`create_proxy`), with `destroy()`
  and `unwrap()`;
- `JsException`: a JavaScript `Error` raised into Python (`name`, `message`, `stack`);
- `jsnull`: JavaScript's `null` where it must differ from `None` (`undefined`).

`isinstance(value, JsProxy)` holds for all of them, as it would in Pyodide.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any

__all__ = [
    "ConversionError",
    "JsArray",
    "JsBuffer",
    "JsDoubleProxy",
    "JsException",
    "JsMap",
    "JsProxy",
    "JsSet",
    "jsnull",
    "to_py",
]


class JsProxy(abc.ABC):  # noqa: B024 - a marker: the concrete classes register or subclass it
    """What every JavaScript value seen from Python is an instance of."""

    @property
    def typeof(self) -> str:
        return "object"


class ConversionError(Exception):
    """A value has no conversion between Python and JavaScript (Pyodide's name)."""


class _JsNull:
    """JavaScript's `null` (Pyodide's `pyodide.ffi.jsnull`); `None` stands for `undefined`."""

    __slots__ = ()
    _instance: _JsNull | None = None

    def __new__(cls) -> _JsNull:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "jsnull"


jsnull = _JsNull()
JsProxy.register(_JsNull)


def to_py(value: Any, depth: int = -1) -> Any:
    """Deep copy of a JavaScript value into plain Python (dict, list, set, bytes views)."""
    if depth == 0:
        return value
    if value is jsnull:
        return None
    if isinstance(value, JsBuffer):
        return memoryview(bytes(value))
    if isinstance(value, dict | JsMap):
        return {key: to_py(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list):
        return [to_py(item, depth - 1) for item in value]
    if isinstance(value, JsSet):
        return {to_py(item, depth - 1) for item in value}
    return value


class JsArray(list, JsProxy):
    """A JavaScript `Array`: a Python list that also answers `to_py()` and the JS names."""

    __slots__ = ()

    def to_py(self, *, depth: int = -1, default_converter: Any = None) -> list[Any]:
        return to_py(self, depth)

    @property
    def length(self) -> int:
        return len(self)

    def push(self, *items: Any) -> int:
        self.extend(items)
        return len(self)

    def includes(self, item: Any) -> bool:
        return item in self

    def join(self, separator: str = ",") -> str:
        return separator.join("" if i is None or i is jsnull else str(i) for i in self)

    def object_values(self) -> JsArray:
        return JsArray(self)


class JsMap(MutableMapping, JsProxy):
    """A JavaScript `Map`: item access and the JS methods, but no attribute access."""

    __slots__ = ("_data",)

    def __init__(self, entries: Iterable[Any] = ()) -> None:
        self._data: dict[Any, Any] = {}
        for entry in entries.items() if isinstance(entries, dict) else entries:
            key, value = entry
            self._data[key] = value

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._data[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size(self) -> int:
        return len(self._data)

    def has(self, key: Any) -> bool:
        return key in self._data

    def set(self, key: Any, value: Any) -> JsMap:
        self._data[key] = value
        return self

    def delete(self, key: Any) -> bool:
        return self._data.pop(key, _MISSING) is not _MISSING

    def entries(self) -> Iterator[JsArray]:
        for key, value in self._data.items():
            yield JsArray((key, value))

    def forEach(self, callback: Callable[..., Any]) -> None:
        for key, value in list(self._data.items()):
            callback(value, key, self)

    def to_py(self, *, depth: int = -1, default_converter: Any = None) -> dict[Any, Any]:
        return to_py(self, depth)

    def __repr__(self) -> str:
        return f"JsMap({self._data!r})"


_MISSING = object()


class JsSet(set, JsProxy):
    """A JavaScript `Set`."""

    __slots__ = ()

    @property
    def size(self) -> int:
        return len(self)

    def has(self, item: Any) -> bool:
        return item in self

    def delete(self, item: Any) -> bool:
        present = item in self
        self.discard(item)
        return present

    def to_py(self, *, depth: int = -1, default_converter: Any = None) -> set[Any]:
        return to_py(self, depth)


class JsBuffer(bytes, JsProxy):
    """An `ArrayBuffer` / `Uint8Array` (read-only here): bytes plus Pyodide's JsBuffer API."""

    __slots__ = ()

    @property
    def byteLength(self) -> int:
        return len(self)

    @property
    def length(self) -> int:
        return len(self)

    def to_bytes(self) -> bytes:
        return bytes(self)

    def to_memoryview(self) -> memoryview:
        return memoryview(bytes(self))

    def to_string(self, encoding: str | None = None) -> str:
        return bytes(self).decode(encoding or "utf-8")

    def to_py(self, *, depth: int = -1, default_converter: Any = None) -> memoryview:
        return self.to_memoryview()

    def slice(self, start: int = 0, end: int | None = None) -> JsBuffer:
        return JsBuffer(self[start:end])

    subarray = slice

    def __repr__(self) -> str:
        return f"JsBuffer({bytes(self)!r})"


class JsException(JsProxy, Exception):
    """A JavaScript error seen from Python: `JsException("TypeError", "message")`."""

    def __init__(self, name: str = "Error", message: str = "", stack: str = "") -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.message = message
        self.stack = stack or f"{name}: {message}\n    at <edge>"

    @property
    def js_error(self) -> JsException:
        return self

    def toString(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name


class JsDoubleProxy(JsProxy):
    """A Python object lent to JavaScript (`create_proxy`); call `destroy()` when done."""

    __slots__ = ("_destroyed", "_object", "_once")

    def __init__(self, obj: Any, *, once: bool = False) -> None:
        self._object = obj
        self._destroyed = False
        self._once = once

    def _target(self) -> Any:
        if self._destroyed:
            raise JsException(
                "Error",
                "Object has already been destroyed (the proxy was destroyed, or a once "
                "callable was already called)",
            )
        return self._object

    def unwrap(self) -> Any:
        return self._target()

    def destroy(self) -> None:
        self._destroyed = True

    @property
    def type(self) -> str:
        kind = type(self._object)
        if kind.__module__ in ("builtins", "__main__"):
            return kind.__name__
        return f"{kind.__module__}.{kind.__name__}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        target = self._target()
        if self._once:
            self.destroy()
        return target(*args, **kwargs)

    def __await__(self) -> Any:
        return self._target().__await__()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # our own slots, before __init__ (copy, pickle)
            raise AttributeError(name)
        return getattr(self._target(), name)

    def getBuffer(self, type: str = "u8") -> _PyBuffer:
        """The buffer of a bytes-like object, as JavaScript would see it (`.data`)."""
        target = self._target()
        try:
            data = bytes(memoryview(target))
        except TypeError:
            raise JsException(
                "TypeError", f"getBuffer(): {self.type} does not support the buffer protocol"
            ) from None
        return _PyBuffer(JsBuffer(data))

    def toString(self) -> str:
        return str(self._target())

    def __repr__(self) -> str:
        state = "destroyed" if self._destroyed else repr(self._object)
        return f"JsDoubleProxy({state})"


class _PyBuffer:
    """What `PyProxy.getBuffer()` returns: `.data` is the Uint8Array; `release()` frees it."""

    __slots__ = ("data",)

    def __init__(self, data: JsBuffer) -> None:
        self.data = data

    def release(self) -> None:
        pass
