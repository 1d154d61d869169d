"""The worker's configuration: `wrangler.toml` (or `.json`/`.jsonc`), `.dev.vars` and overrides.

Data model only at the top; the loader below it. Everything read here is a key that real
`wrangler deploy` understands: machine-specific settings (which engine serves which
model) never live in `wrangler.toml` (see `emulator.local_settings`).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bindings import registry
from bindings.contract import BindingSpec
from emulator.config_checks import check_unknown, expect, shown, string_list, warn_once
from emulator.dev_vars import load_secrets
from emulator.errors import ConfigError
from emulator.jsonc import strip_jsonc

__all__ = ["BindingSpec", "ConfigError", "DevSettings", "WorkerConfig", "load_config"]


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
        # `.env` files are read only when no `.dev.vars*` exists (see emulator.dev_vars).
        names = [".env", ".env.local"]
        if self.env_name:
            names += [f".env.{self.env_name}", f".env.{self.env_name}.local"]
        files.extend(self.root / name for name in names)
        return files


# --------------------------------------------------------------------------------------
# Loading
#
# Inheritance follows Wrangler's own validation (workers-sdk
# packages/wrangler/src/config/validation.ts, `inheritable` / `notInheritable`) and
# https://developers.cloudflare.com/workers/wrangler/environments/: top-level keys such
# as `main`, `compatibility_*` and `triggers` are inherited by `[env.<name>]`; `name`
# becomes `<name>-<env>` unless the environment sets its own; `vars` and every binding
# are NOT inherited (Wrangler warns when the top level has some and the env has none).
# Binding kinds come from `bindings.registry`; each says whether it is inherited.
# --------------------------------------------------------------------------------------

#: Wrangler looks for these, in this order, in a folder and then its parents.
CONFIG_FILES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")

#: keys an `[env.<name>]` section inherits from the top level when it does not set them.
INHERITABLE = frozenset(
    {
        "name", "main", "compatibility_date", "compatibility_flags", "triggers", "account_id",
        "route", "routes", "workers_dev", "preview_urls", "build", "rules", "limits",
        "placement", "migrations", "logfwdr", "no_bundle", "minify", "keep_names",
        "first_party_worker", "logpush", "upload_source_maps", "observability", "tsconfig",
        "jsx_factory", "jsx_fragment", "find_additional_modules", "preserve_file_names",
        "base_dir", "compliance_region", "python_modules",
    }
)  # fmt: skip

#: keys, besides binding kinds, that belong to one environment only.
NOT_INHERITABLE = frozenset(
    {"vars", "define", "tail_consumers", "unsafe", "cloudchamber", "containers", "secrets"}
)

#: keys valid only at the top level, never inside `[env.<name>]`.
TOP_LEVEL_ONLY = frozenset(
    {
        "$schema", "env", "dev", "site", "alias", "wasm_modules", "text_blobs", "data_blobs",
        "legacy_env", "send_metrics", "keep_vars", "pages_build_output_dir",
    }
)  # fmt: skip

_WORKER_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def find_config(path: str | Path | None = None) -> Path:
    """The wrangler file for `path`: the file itself, or the first of `CONFIG_FILES` found
    in the folder or its parents (as Wrangler searches)."""
    start = Path(path if path is not None else Path.cwd()).resolve()
    if start.is_file():
        return start
    if not start.exists():
        raise ConfigError(start, None, "no such file or folder")
    for folder in (start, *start.parents):
        for name in CONFIG_FILES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    names = ", ".join(CONFIG_FILES)
    raise ConfigError(start, None, f"no Wrangler configuration ({names}) here or in a parent")


def load_config(
    path: str | Path | None = None,
    *,
    config_file: str | Path | None = None,
    env: str | None = None,
    var_overrides: dict[str, str] | None = None,
) -> WorkerConfig:
    """Read and resolve a worker's configuration, secrets and `--var` overrides.

    `path` is the worker folder (default: the current one), a wrangler file, or the
    worker's `.py` entry module (which then overrides `main`, like `wrangler dev SCRIPT`);
    `config_file` (`--config`) names the file explicitly, relative to `path`'s folder.
    Raises `ConfigError` naming the file, the key and what was expected.
    """
    script = None
    if path is not None and Path(path).suffix == ".py":
        script = Path(path).resolve()
        if not script.is_file():
            raise ConfigError(script, None, "worker module not found")
        path = script.parent
    if config_file is not None:
        base = Path(path) if path is not None else Path.cwd()
        if base.is_file():
            base = base.parent
        file = (base / config_file).resolve()
        if not file.is_file():
            raise ConfigError(file, None, "config file not found")
    else:
        file = find_config(path)
    raw = parse_file(file)
    config = resolve(raw, file, env, script=script)
    config.secrets, config.secrets_file = load_secrets(config.root, env, raw)
    # Precedence, lowest first: [vars], .dev.vars / .env secrets, --var flags (as
    # `wrangler dev` merges `{...vars, ...devVars, ...args.var}`).
    for key, value in (var_overrides or {}).items():
        config.vars[key] = value
        config.secrets.pop(key, None)
    _check_names(config)
    return config


def parse_file(file: Path) -> dict[str, Any]:
    """Parse a `.toml`, `.json` or `.jsonc` file (JSON files may carry comments and
    trailing commas, as Wrangler's JSONC parser allows) into a dict."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, None, f"cannot read: {exc}") from exc
    if file.suffix not in (".toml", ".json", ".jsonc"):
        names = ", ".join(CONFIG_FILES)
        raise ConfigError(file, None, f"not a Wrangler configuration file (expected {names})")
    if file.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(file, None, f"invalid TOML: {exc}") from exc
    else:
        try:
            data = json.loads(strip_jsonc(text))
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise ConfigError(file, None, f"invalid JSON at {where}: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ConfigError(file, None, f"expected an object at the top, got {shown(data)}")
    return data


def resolve(
    raw: dict[str, Any], file: Path, env: str | None = None, *, script: Path | None = None
) -> WorkerConfig:
    """The effective `WorkerConfig` of `raw` for environment `env` (no secrets yet);
    `script` replaces the configured `main`."""
    file = file.resolve()
    root = file.parent
    kinds = frozenset(registry.names())
    everything = INHERITABLE | NOT_INHERITABLE | TOP_LEVEL_ONLY | kinds
    check_unknown(raw, file, "", allow=everything)
    envs = raw.get("env", {})
    expect(envs, dict, file, "env", "a table of environments")
    section: dict[str, Any] = raw
    prefix = ""
    if env is not None:
        if env in envs:
            section = envs[env]
            prefix = f"env.{env}."
            expect(section, dict, file, f"env.{env}", "a table")
            check_unknown(section, file, prefix, allow=everything - TOP_LEVEL_ONLY,
                          top_only=TOP_LEVEL_ONLY)  # fmt: skip
            _warn_not_inherited(raw, section, file, env)
        elif envs:
            defined = ", ".join(sorted(envs))
            raise ConfigError(
                file, "--env", f"no environment named {env!r}; defined: {defined} "
                f"(add an [env.{env}] section)"
            )  # fmt: skip
        else:
            # Wrangler only warns here and carries on with the top level as it is.
            warn_once(f"{file}: no [env.{env}] section; using the top-level configuration")

    def pick(key: str) -> tuple[Any, str]:
        """A key's value for the active env and the dotted path to name in errors."""
        if key in section:
            return section[key], prefix + key
        if key in raw and _inherited(key):
            return raw[key], key
        return None, prefix + key

    name, name_key = pick("name")
    if name is None:
        name = root.name.lower()
    else:
        expect(name, str, file, name_key, "a string")
        if not _WORKER_NAME.match(name):
            raise ConfigError(
                file, name_key,
                f"expected a Worker name of lower-case letters, digits, '-' and '_', got {name!r}",
            )  # fmt: skip
    if prefix and "name" not in section:
        name = f"{name}-{env}"

    main, main_key = pick("main")
    if script is not None:
        main, main_key = str(script), "main"
    if main is None:
        raise ConfigError(
            file, "main", 'required: the worker\'s Python module, e.g. "src/entry.py"'
        )
    expect(main, str, file, main_key, "a string")
    main_path = (root / main).resolve()
    if main_path.suffix != ".py":
        raise ConfigError(file, main_key, f"expected a Python (.py) file, got {main!r}")
    if not main_path.is_file():
        raise ConfigError(file, main_key, f"file not found: {main_path}")

    date, date_key = pick("compatibility_date")
    if date is not None and (not isinstance(date, str) or not _DATE.match(date)):
        raise ConfigError(
            file, date_key, f'expected a quoted date string like "2024-09-23", got {date!r}'
        )
    flags, flags_key = pick("compatibility_flags")
    flags = string_list(flags, file, flags_key) if flags is not None else []
    if "python_workers" not in flags:
        warn_once(
            f'{file}: compatibility_flags lacks "python_workers"; '
            "`wrangler deploy` requires it for a Python worker"
        )

    vars_, vars_key = pick("vars")
    vars_ = {} if vars_ is None else dict(expect(vars_, dict, file, vars_key, "a table"))

    triggers, triggers_key = pick("triggers")
    crons: list[str] = []
    if triggers is not None:
        expect(triggers, dict, file, triggers_key, "a table with a `crons` list")
        check_unknown(triggers, file, triggers_key + ".", allow=frozenset({"crons"}))
        if "crons" in triggers:
            crons = string_list(triggers["crons"], file, triggers_key + ".crons")

    dev = _dev_settings(raw.get("dev"), file)

    bindings: list[BindingSpec] = []
    for kind in registry.names():
        value, key = pick(kind)
        if value is not None:
            found = registry.get(kind)
            assert found is not None
            bindings.extend(found.specs(value, file, key))

    return WorkerConfig(
        file=file,
        root=root,
        name=name,
        main=main_path,
        compatibility_date=date,
        compatibility_flags=flags,
        vars=vars_,
        bindings=bindings,
        crons=crons,
        dev=dev,
        env_name=env,
        raw=raw,
    )


def _dev_settings(value: Any, file: Path) -> DevSettings:
    if value is None:
        return DevSettings()
    expect(value, dict, file, "dev", "a table")
    known = {"ip", "port", "local_protocol", "upstream_protocol", "host", "inspector_port",
             "enable_containers", "container_engine"}  # fmt: skip
    check_unknown(value, file, "dev.", allow=frozenset(known))
    ip = value.get("ip", DevSettings.ip)
    expect(ip, str, file, "dev.ip", "a string")
    port = value.get("port", DevSettings.port)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(file, "dev.port", f"expected a port number 0-65535, got {port!r}")
    return DevSettings(ip=ip, port=port)


def _inherited(key: str) -> bool:
    if key in INHERITABLE:
        return True
    if key in NOT_INHERITABLE or (key not in registry.KINDS and key not in registry.PENDING):
        return False
    kind = registry.get(key)
    return kind is not None and kind.inheritable


def _warn_not_inherited(raw: dict, section: dict, file: Path, env: str) -> None:
    # Wrangler warns about exactly this mistake: vars and bindings are not inherited.
    for key in sorted(raw.keys() - section.keys() - INHERITABLE - TOP_LEVEL_ONLY):
        if _inherited(key) or (key not in NOT_INHERITABLE and registry.get(key) is None):
            continue
        warn_once(
            f"{file}: [{key}] exists at the top level but not in [env.{env}]; "
            "it is not inherited, so this environment does not have it"
        )


def parse_var_overrides(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`--var KEY:VALUE` flags as a dict; the value may itself contain ':'."""
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition(":")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("--var", item, "expected KEY:VALUE")
        if not key.isidentifier():
            raise ConfigError("--var", item, f"{key!r} is not a valid variable name")
        overrides[key] = value
    return overrides


def _check_names(config: WorkerConfig) -> None:
    """Every env name is an identifier; bindings never share a name with each other or with
    a var/secret. A secret may override a var of the same name (as `.dev.vars` does)."""
    seen: dict[str, str] = {}
    for key in config.vars:
        _check_identifier(config.file, f"vars.{key}", key)
        seen[key] = "vars"
    for key in config.secrets:
        _check_identifier(config.secrets_file or config.file, key, key)
        seen.setdefault(key, "secrets")
    for spec in config.bindings:
        if spec.name is None:
            continue
        _check_identifier(config.file, f"{spec.kind} binding {spec.name!r}", spec.name)
        if spec.name in seen:
            raise ConfigError(
                config.file, spec.name,
                f"name used twice: by {seen[spec.name]} and by {spec.kind}; "
                "every binding needs a unique name",
            )  # fmt: skip
        seen[spec.name] = spec.kind


def _check_identifier(file: Path, key: str, name: str) -> None:
    if not name.isidentifier():
        raise ConfigError(file, key, f"{name!r} is not a valid name (letters, digits, '_')")
