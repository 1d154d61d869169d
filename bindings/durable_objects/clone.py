"""What may cross a Durable Object's boundary: RPC arguments and results, stored values.

Workers RPC and `ctx.storage` use the structured clone algorithm. A Python Worker
reaches it through the `workers` SDK (workerd `src/pyodide/internal/workers-api/src/
workers/_workers.py`): `python_to_rpc` refuses tuples, bytearrays, functions and
awaitables ("<class 'tuple'> cannot be sent over RPC."), `to_js` turns dicts into Maps,
sets into Sets, datetimes into Dates and exceptions into Errors, and anything else
becomes a proxy that the serializer refuses ("Could not serialize object of type
"PyProxy". This type does not support serialization."). `python_from_rpc` turns them
back: Maps into dicts, Dates into naive local datetimes (`fromtimestamp`), Errors into
`Exception("Error: <message>")`, and integral numbers into ints (a JS number is a double).

`to_rpc` / `for_storage` reproduce those round trips (a deep copy, cycles and shared
references kept); stored values are kept as a restricted pickle of the cloned value.
Requests, Responses, stubs and ids pass by reference, as they do over RPC.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import io
import pickle
from collections.abc import Callable
from types import FunctionType, LambdaType
from typing import Any

from emulator.errors import EdgeError

__all__ = ["DataCloneError", "decode", "encode", "for_storage", "to_rpc"]

_MAX_SAFE = 2**53  # beyond it a JS number is no longer an exact integer
_AS_IS = frozenset({type(None), bool, str, int})


class DataCloneError(EdgeError, TypeError):
    """A value the structured clone algorithm cannot copy (the DOMException's name)."""


def to_rpc(value: Any) -> Any:
    """A copy of an RPC argument or result as the other side receives it."""
    return _Cloner(rpc=True).clone(value)


def for_storage(value: Any) -> Any:
    """A copy of a value as `ctx.storage.put` keeps it (tuples become lists there)."""
    return _Cloner(rpc=False).clone(value)


def encode(value: Any) -> bytes:
    """The stored form of a value already passed through `for_storage`."""
    return pickle.dumps(value, protocol=5)


def decode(data: bytes) -> Any:
    """A stored value back; only the types `for_storage` produces can come out."""
    return _Unpickler(io.BytesIO(data)).load()


class _Unpickler(pickle.Unpickler):
    _ALLOWED = frozenset({
        ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "Exception"),
        ("datetime", "datetime"), ("datetime", "timezone"), ("datetime", "timedelta"),
    })  # fmt: skip

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"stored value refers to {module}.{name}")
        return super().find_class(module, name)


class _Cloner:
    def __init__(self, *, rpc: bool) -> None:
        self.rpc = rpc
        self.memo: dict[int, Any] = {}

    def clone(self, value: Any) -> Any:
        kind = type(value)
        if kind in _AS_IS:
            return value
        if kind is float:
            # a JS number comes back to Python as an int when it is integral
            return int(value) if value.is_integer() and abs(value) <= _MAX_SAFE else value
        if isinstance(value, bool | str | int):
            return value
        key = id(value)
        if key in self.memo:
            return self.memo[key]
        return self._container(value, key)

    def _container(self, value: Any, key: int) -> Any:
        if isinstance(value, bytes | memoryview):
            return bytes(value)
        if isinstance(value, bytearray):
            self._refuse_in_rpc(value)
            return bytes(value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            self.memo[key] = out
            for k, v in value.items():
                out[self.clone(k)] = self.clone(v)
            return out
        if isinstance(value, list | tuple):
            if isinstance(value, tuple):
                self._refuse_in_rpc(value)
            items: list[Any] = []
            self.memo[key] = items
            items.extend(self.clone(item) for item in value)
            return items
        if isinstance(value, set | frozenset):
            members: set[Any] = set()
            self.memo[key] = members
            members.update(self.clone(item) for item in value)
            return members
        if isinstance(value, datetime.datetime):
            return datetime.datetime.fromtimestamp(value.timestamp())
        if isinstance(value, BaseException):
            return Exception(f"Error: {value}")
        if isinstance(value, _by_reference()) or getattr(type(value), "__edge_rpc_reference__",
                                                          False):  # fmt: skip
            return value
        to_py: Callable[[], Any] | None = getattr(value, "to_py", None)
        if callable(to_py):  # a JsProxy-like object from the FFI shims
            return self.clone(to_py())
        if inspect.isawaitable(value):
            raise TypeError(f"Awaitable {type(value)} cannot be sent over RPC.")
        if isinstance(value, FunctionType | LambdaType):
            raise TypeError(f"{type(value)} cannot be sent over RPC.")
        raise DataCloneError(
            'Could not serialize object of type "PyProxy". This type does not support '
            f"serialization. (a {type(value).__name__}; send None, bool, int, float, str, "
            "bytes, list, dict, set, datetime or a workers.Request/Response)"
        )

    def _refuse_in_rpc(self, value: Any) -> None:
        if self.rpc:
            raise TypeError(f"{type(value)} cannot be sent over RPC.")


@functools.cache
def _by_reference() -> tuple[type, ...]:
    """Requests, Responses and ids cross RPC as themselves (JS transfers them); so does
    any class marked `__edge_rpc_reference__` (stubs)."""
    from bindings.durable_objects.ids import DurableObjectId
    from emulator.sdk import Request, Response

    return (Request, Response, DurableObjectId)
