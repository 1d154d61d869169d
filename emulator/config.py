"""The worker's configuration: `wrangler.toml` (or `.json`/`.jsonc`), `.dev.vars` and overrides.

Data model only at the top; the loader below it. Everything read here is a key that real
`wrangler deploy` understands: machine-specific settings (which engine serves which
model) never live in `wrangler.toml` (see `emulator.local_settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """A configuration problem; the message names the file, the key and what was expected."""

    def __init__(self, file: Path | str, key: str | None, problem: str) -> None:
        self.file = Path(file)
        self.key = key
        self.problem = problem
        where = f"{self.file}" + (f": {key}" if key else "")
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class BindingSpec:
    """One binding from the config: its kind (the table name, e.g. `ai`, `kv_namespaces`),
    the name it gets in `env` (e.g. `AI`), and the raw table it came from."""

    kind: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DevSettings:
    ip: str = "127.0.0.1"
    port: int = 8787


@dataclass
class WorkerConfig:
    """A resolved worker configuration (after `[env.<name>]` and overrides are applied)."""

    file: Path  # the wrangler file read (absolute)
    root: Path  # the folder holding it; relative paths resolve from here
    name: str
    main: Path  # absolute path of the worker's entry module
    compatibility_date: str | None = None
    compatibility_flags: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)  # [vars] plus --var overrides
    secrets: dict[str, str] = field(default_factory=dict)  # .dev.vars / .dev.vars.<env>
    secrets_file: Path | None = None  # the dotenv file secrets came from, if any
    bindings: list[BindingSpec] = field(default_factory=list)  # every binding but vars
    crons: list[str] = field(default_factory=list)
    dev: DevSettings = field(default_factory=DevSettings)
    env_name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the parsed file, before resolution

    def watched_files(self) -> list[Path]:
        """Files whose change means a reload: the config file and the secrets file(s)."""
        files = [self.file]
        files.append(self.root / ".dev.vars")
        if self.env_name:
            files.append(self.root / f".dev.vars.{self.env_name}")
        return files
