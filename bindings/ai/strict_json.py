"""Inputs that JSON can carry, and only those: one strict parser, one bound on values.

Workers AI receives JSON: through the REST API as a body, through `env.AI.run` as a
JavaScript object that workerd serialises. So a value no JSON text can hold never reaches
a model on Cloudflare, and must not reach an engine here either:

- `NaN`, `Infinity` and `-Infinity` are not JSON (RFC 8259 section 6; JavaScript's
  `JSON.parse` refuses them, `JSON.stringify` writes them as `null`). Python's `json`
  accepts them by default, and `1e999` parses to `inf`.
- A lone UTF-16 surrogate (`"\\ud800"`) is valid JSON syntax but no Unicode text: it
  cannot be encoded as UTF-8, so a tokenizer (or the response writer) fails on it.
- Nesting is bounded (`MAX_DEPTH`): schema validation and templates recurse, and a
  10 MB body of `[[[[...` must cost a parse, not a `RecursionError` deep in a library.

`loads` is the parser the REST API uses for every body; `check_value` is the walk every
`AiService.run` applies before validation (the binding, REST and OpenAI paths).
Failures are `5006` (input validation), except a body that is not JSON at all, which is
`JsonSyntaxError` (the REST API answers it as its own bad-request error).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from bindings.ai.errors import AiError, bad_input

__all__ = ["MAX_DEPTH", "JsonSyntaxError", "check_value", "loads"]

#: Deepest nesting accepted, counting the top-level object as 1. Chat messages, tool
#: definitions and JSON-Schema `response_format`s stay far below it.
MAX_DEPTH = 64


class JsonSyntaxError(ValueError):
    """The text is not JSON (malformed, not UTF-8, or a non-JSON constant such as NaN)."""


def _refuse_constant(name: str) -> Any:
    raise JsonSyntaxError(f"{name} is not a JSON value")


def loads(raw: bytes | str) -> Any:
    """Parse JSON strictly, then `check_value` the result.

    Raises `JsonSyntaxError` for text that is not JSON and `AiError(5006)` for JSON whose
    values no model input can hold (see the module docstring).
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        value = json.loads(text, parse_constant=_refuse_constant)
    except JsonSyntaxError:
        raise
    except UnicodeDecodeError as exc:
        raise JsonSyntaxError(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise _too_deep("/") from None
    except ValueError as exc:  # JSONDecodeError, and ints past Python's digit limit
        raise JsonSyntaxError(str(exc)) from None
    check_value(value)
    return value


def check_value(value: Any) -> None:
    """Raise `AiError(5006)` if `value` holds a non-finite number, a string that is not
    Unicode text (a lone surrogate), or nesting deeper than `MAX_DEPTH`.

    Iterative, so depth costs no Python stack; other leaf types (bytes for binary inputs,
    numbers, booleans, None) pass untouched: the model's schema decides about them.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise bad_input(
                    f"Error: Type mismatch of '{where or '/'}', '{item}' is not a JSON number"
                )
        elif isinstance(item, Mapping | list | tuple):
            if depth > MAX_DEPTH:
                raise _too_deep(where or "/")
            pairs = item.items() if isinstance(item, Mapping) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    _check_text(key, where)
                stack.append((child, f"{where}/{_escape(key)}", depth + 1))


def _check_text(text: str, where: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise bad_input(
            f"Error: Invalid string at '{where or '/'}': lone surrogate "
            f"{text[exc.start]!r} at index {exc.start} is not Unicode text"
        ) from None


def _escape(key: Any) -> str:
    # RFC 6901 JSON pointer escaping, as the validator's messages write paths.
    return str(key).replace("~", "~0").replace("/", "~1")


def _too_deep(where: str) -> AiError:
    return bad_input(f"Error: Nesting at '{where}' is deeper than {MAX_DEPTH} levels")
