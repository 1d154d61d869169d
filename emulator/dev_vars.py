"""Local secrets for `edge dev`: `.dev.vars`, `.dev.vars.<env>` and `.env` files (dotenv).

Mirrors `wrangler dev`
(https://developers.cloudflare.com/workers/local-development/environment-variables/).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from dotenv import parser as dotenv_parser

from emulator.config_checks import warn_once
from emulator.errors import ConfigError


def load_secrets(
    root: Path, env: str | None, raw: dict[str, Any] | None = None
) -> tuple[dict[str, str], Path | None]:
    """Local secrets, as `wrangler dev` reads them
    (https://developers.cloudflare.com/workers/local-development/environment-variables/):
    `.dev.vars.<env>` alone if it exists, else `.dev.vars`; only when neither exists, the
    `.env` files merged (`.env`, `.env.<env>`, `.env.local`, `.env.<env>.local`, the
    most specific winning). Returns the secrets and the main file they came from."""
    candidates = [root / f".dev.vars.{env}"] if env else []
    candidates.append(root / ".dev.vars")
    for candidate in candidates:
        if candidate.is_file():
            return _filter_required(_read_dotenv(candidate), candidate, raw, env), candidate
    names = [".env"] + ([f".env.{env}"] if env else []) + [".env.local"]
    names += [f".env.{env}.local"] if env else []
    secrets: dict[str, str] = {}
    source = None
    for name in names:
        path = root / name
        if path.is_file():
            secrets.update(_read_dotenv(path))
            source = source or path
    return _filter_required(secrets, source, raw, env), source


def _filter_required(
    secrets: dict[str, str], source: Path | None, raw: dict | None, env: str | None
) -> dict[str, str]:
    """Apply the `secrets.required` config property: only the listed keys are loaded."""
    if not raw:
        return secrets
    section = raw.get("env", {}).get(env, raw) if env else raw
    declared = section.get("secrets") if isinstance(section, dict) else None
    if declared is None:
        return secrets
    required = declared.get("required") if isinstance(declared, dict) else None
    if not isinstance(required, list) or not all(isinstance(k, str) for k in required):
        return secrets
    for key in required:
        if key not in secrets:
            warn_once(f"secret {key} is listed in secrets.required but not defined locally")
    return {k: v for k, v in secrets.items() if k in required}


def _read_dotenv(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, f"cannot read: {exc}") from exc
    values: dict[str, str] = {}
    for binding in dotenv_parser.parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            raise ConfigError(
                path, f"line {line}",
                f"expected KEY=VALUE, got {binding.original.string.strip()!r}",
            )  # fmt: skip
        if binding.key is None:
            continue  # blank line or comment
        if binding.value is None:
            raise ConfigError(path, binding.key, f"line {line}: expected KEY=VALUE, no '=' found")
        values[binding.key] = binding.value
    return values
