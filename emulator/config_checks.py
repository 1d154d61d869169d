"""Checks of raw configuration values (parsed TOML/JSON), each failing with a `ConfigError`
that names the file, the dotted key and what was expected; shared by `wrangler.toml`
parsing, each binding kind's field checks and `.dev.vars` reading."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from emulator.errors import ConfigError

log = logging.getLogger("edge.config")

_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Log a configuration warning once per process (reloads re-read the same file)."""
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def expect(value: Any, kind: type | tuple[type, ...], file: Path, key: str, what: str) -> Any:
    """`value` if it is a `kind` (a bool is never an int here), else a `ConfigError`."""
    bool_ok = kind is bool or (isinstance(kind, tuple) and bool in kind)
    if not isinstance(value, kind) or (isinstance(value, bool) and not bool_ok):
        raise ConfigError(file, key, f"expected {what}, got {shown(value)}")
    return value


def string_list(value: Any, file: Path, key: str) -> list[str]:
    expect(value, list, file, key, "an array of strings")
    for i, item in enumerate(value):
        expect(item, str, file, f"{key}[{i}]", "a string")
    return list(value)


def check_unknown(
    table: dict,
    file: Path,
    prefix: str,
    *,
    allow: frozenset[str],
    top_only: frozenset[str] = frozenset(),
) -> None:
    """Warn (once) about keys of `table` not in `allow`: Wrangler warns and carries on.
    `top_only` keys found inside an `[env.<name>]` section get a warning of their own."""
    for key in table:
        if key not in allow:
            where = "the top level" if not prefix else prefix.rstrip(".")
            if prefix.startswith("env.") and key in top_only:
                warn_once(f"{file}: {prefix}{key}: only valid at the top level; ignored")
            else:
                warn_once(f"{file}: unknown key {key!r} in {where}; ignored")


def shown(value: Any) -> str:
    """A value as an error message shows it: strings quoted, TOML's words for the rest."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__ + f" {value}"
