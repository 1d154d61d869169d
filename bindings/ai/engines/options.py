"""Engine route options: each engine declares what it accepts, and one policy checks them.

An engine module's `OPTIONS` maps option names to `Option`s. Routes are checked when
they are parsed (`--ai-route`, `EDGE_AI_ROUTES`, `edge.toml`), for every engine alike:
an unknown option, a missing value or one of the wrong kind is a `ValueError` naming
the option and what the engine accepts, which routing turns into a `RouteError` quoting
the route. Values from a route spec arrive as text and are converted here; values from
`edge.toml` arrive typed and are checked the same way. Engines get the converted values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_KINDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "table": "a table of names to names",
}


@dataclass(frozen=True)
class Option:
    """One accepted option: `kind` is int, float, bool, str or table (str -> str)."""

    kind: str
    help: str = ""
    minimum: float | None = None
    repeat: bool = False  # may be given several times, collected in a list

    def describe(self) -> str:
        what = _KINDS[self.kind]
        if self.minimum is not None:
            what += f" >= {self.minimum:g}"
        return what + (", repeatable" if self.repeat else "")

    def convert(self, name: str, value: Any) -> Any:
        if self.repeat:
            items = value if isinstance(value, list) else [value]
            return [self._one(name, item) for item in items]
        if isinstance(value, list):
            raise ValueError(f"option {name} takes one value ({self.describe()}), not {value!r}")
        return self._one(name, value)

    def _one(self, name: str, value: Any) -> Any:
        if value is True and self.kind != "bool":  # a bare word in a route spec
            raise ValueError(f"option {name} needs a value: {name}=<{self.describe()}>")
        converted = _convert(self.kind, value)
        if converted is None:
            raise ValueError(f"option {name} must be {self.describe()}, not {value!r}")
        if self.minimum is not None and converted < self.minimum:
            raise ValueError(f"option {name} must be {self.describe()}, not {value!r}")
        return converted


def _convert(kind: str, value: Any) -> Any:
    text = value.strip() if isinstance(value, str) else None
    if kind == "str":
        return value if isinstance(value, str) else None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        lowered = (text or "").lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else None
    if kind == "table":
        ok = isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
        return dict(value) if ok else None
    if isinstance(value, bool):
        return None
    number: type = int if kind == "int" else float
    if isinstance(value, int | float) and (kind == "float" or isinstance(value, int)):
        return number(value)
    try:
        return number(text) if text is not None else None
    except ValueError:
        return None


def check_options(engine: str, accepted: Mapping[str, Option], options: Mapping[str, Any]
                  ) -> dict[str, Any]:
    """`options` converted as `accepted` says; `ValueError` on anything else."""
    out = {}
    for name, value in options.items():
        option = accepted.get(name)
        if option is None:
            raise ValueError(f"{engine} has no option {name!r} ({accepted_text(engine, accepted)})")
        out[name] = option.convert(name, value)
    return out


def accepted_text(engine: str, accepted: Mapping[str, Option]) -> str:
    if not accepted:
        return f"{engine} takes no options"
    items = ", ".join(f"{name} ({option.describe()})" for name, option in sorted(accepted.items()))
    return f"{engine} accepts: {items}"
