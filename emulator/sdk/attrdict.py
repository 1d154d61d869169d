"""Dicts that also allow attribute access, like the JS proxies bindings return on Cloudflare.

On Cloudflare a binding result (say `await env.AI.run(...)`) is a JavaScript object seen
through Pyodide's FFI, so Python code reads it as `resp.response`; code that calls
`.to_py()` first reads it as `resp["response"]`. Real code does both, so results here are
plain `dict` subclasses (JSON-serialisable as they are) with attribute access on top, and
their lists are `JsArray`s (lists that answer `.to_py()` too, as D1's `results` must).
"""

from __future__ import annotations

from typing import Any

from emulator.ffi.values import JsArray, JsProxy, to_py


class AttrDict(dict):
    """A `dict` whose keys are also attributes; nested dicts and lists are wrapped too."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, value in self.items():
            dict.__setitem__(self, key, wrap(value))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, wrap(value))

    def to_py(self, *, depth: int = -1, default_converter: Any = None) -> dict:
        """Pyodide's JsProxy.to_py(): a deep copy as plain Python dicts and lists."""
        return to_py(self, depth)


JsProxy.register(AttrDict)  # a JavaScript object, as far as isinstance is concerned


def wrap(value: Any) -> Any:
    """Wrap dicts as `AttrDict` and lists as `JsArray`, recursively."""
    if isinstance(value, AttrDict | JsArray):
        return value
    if isinstance(value, dict):
        return AttrDict(value)
    if isinstance(value, list):
        return JsArray([wrap(item) for item in value])
    return value


def unwrap(value: Any) -> Any:
    """Deep copy back to plain `dict`/`list`."""
    return to_py(value)
