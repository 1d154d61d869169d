"""The worker's configuration: `wrangler.toml` (or `.json`/`.jsonc`), `.dev.vars` and overrides.

Data model only at the top; the loader below it. Everything read here is a key that real
`wrangler deploy` understands: machine-specific settings (which engine serves which
model) never live in `wrangler.toml` (see `emulator.local_settings`).
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.jsonc import strip_jsonc


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
# --------------------------------------------------------------------------------------

log = logging.getLogger("edge.config")

#: Wrangler looks for these, in this order, in a folder and then its parents.
CONFIG_FILES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")

#: keys an `[env.<name>]` section inherits from the top level when it does not set them.
INHERITABLE = frozenset(
    {
        "name", "main", "compatibility_date", "compatibility_flags", "triggers", "account_id",
        "route", "routes", "workers_dev", "preview_urls", "build", "rules", "assets",
        "limits", "placement", "migrations", "logfwdr", "no_bundle", "minify", "keep_names",
        "first_party_worker", "logpush", "upload_source_maps", "observability", "tsconfig",
        "jsx_factory", "jsx_fragment", "find_additional_modules", "preserve_file_names",
        "base_dir", "compliance_region", "python_modules",
    }
)  # fmt: skip

#: keys that belong to one environment only: vars and bindings.
NOT_INHERITABLE = frozenset(
    {
        "vars", "define", "ai", "kv_namespaces", "d1_databases", "r2_buckets",
        "durable_objects", "workflows", "queues", "services", "vectorize", "hyperdrive",
        "analytics_engine_datasets", "dispatch_namespaces", "mtls_certificates",
        "tail_consumers", "unsafe", "browser", "images", "pipelines", "send_email",
        "secrets_store_secrets", "version_metadata", "cloudchamber", "containers", "secrets",
        "ratelimits",
    }
)  # fmt: skip

#: keys valid only at the top level, never inside `[env.<name>]`.
TOP_LEVEL_ONLY = frozenset(
    {
        "$schema", "env", "dev", "site", "alias", "wasm_modules", "text_blobs", "data_blobs",
        "legacy_env", "send_metrics", "keep_vars", "pages_build_output_dir",
    }
)  # fmt: skip

#: binding tables -> (shape, the field holding the env name). Shapes: "table" (one
#: table, e.g. `[ai]`), "array" (`[[kv_namespaces]]`), "bindings" (a table with a
#: `bindings` array, e.g. `[durable_objects]`), "producers" (`[[queues.producers]]`).
BINDING_TABLES: dict[str, tuple[str, str]] = {
    "ai": ("table", "binding"),
    "kv_namespaces": ("array", "binding"),
    "d1_databases": ("array", "binding"),
    "r2_buckets": ("array", "binding"),
    "durable_objects": ("bindings", "name"),
    "queues": ("producers", "binding"),
    "services": ("array", "binding"),
    "vectorize": ("array", "binding"),
    "hyperdrive": ("array", "binding"),
    "analytics_engine_datasets": ("array", "binding"),
    "dispatch_namespaces": ("array", "binding"),
    "mtls_certificates": ("array", "binding"),
    "workflows": ("array", "binding"),
    "pipelines": ("array", "binding"),
    "send_email": ("array", "name"),
    "secrets_store_secrets": ("array", "binding"),
    "ratelimits": ("array", "name"),
    "browser": ("table", "binding"),
    "images": ("table", "binding"),
    "version_metadata": ("table", "binding"),
    "assets": ("table", "binding"),  # a binding only when `binding` is set
}

#: per-kind fields the emulator reads (beyond the env name) and their expected type.
_BINDING_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "kv_namespaces": {"id": str, "preview_id": str},
    "d1_databases": {
        "database_id": str, "database_name": str, "preview_database_id": str,
        "migrations_dir": str, "migrations_table": str,
    },
    "r2_buckets": {"bucket_name": str, "preview_bucket_name": str, "jurisdiction": str},
}  # fmt: skip

_WORKER_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]*$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


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
    from emulator.dev_vars import load_secrets  # it needs ConfigError from here

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
        raise ConfigError(file, None, f"expected an object at the top, got {_kind(data)}")
    return data


def resolve(
    raw: dict[str, Any], file: Path, env: str | None = None, *, script: Path | None = None
) -> WorkerConfig:
    """The effective `WorkerConfig` of `raw` for environment `env` (no secrets yet);
    `script` replaces the configured `main`."""
    file = file.resolve()
    root = file.parent
    _check_unknown(raw, file, "", allow=INHERITABLE | NOT_INHERITABLE | TOP_LEVEL_ONLY)
    envs = raw.get("env", {})
    _expect(envs, dict, file, "env", "a table of environments")
    section: dict[str, Any] = raw
    prefix = ""
    if env is not None:
        if env in envs:
            section = envs[env]
            prefix = f"env.{env}."
            _expect(section, dict, file, f"env.{env}", "a table")
            _check_unknown(section, file, prefix, allow=INHERITABLE | NOT_INHERITABLE)
            _warn_not_inherited(raw, section, file, env)
        elif envs:
            defined = ", ".join(sorted(envs))
            raise ConfigError(
                file, "--env", f"no environment named {env!r}; defined: {defined} "
                f"(add an [env.{env}] section)"
            )  # fmt: skip
        else:
            # Wrangler only warns here and carries on with the top level as it is.
            _warn_once(f"{file}: no [env.{env}] section; using the top-level configuration")

    def pick(key: str) -> tuple[Any, str]:
        """A key's value for the active env and the dotted path to name in errors."""
        if key in section:
            return section[key], prefix + key
        if key in INHERITABLE and key in raw:
            return raw[key], key
        return None, prefix + key

    name, name_key = pick("name")
    if name is None:
        name = root.name.lower()
    else:
        _expect(name, str, file, name_key, "a string")
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
    _expect(main, str, file, main_key, "a string")
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
    flags = _string_list(flags, file, flags_key) if flags is not None else []
    if "python_workers" not in flags:
        _warn_once(
            f'{file}: compatibility_flags lacks "python_workers"; '
            "`wrangler deploy` requires it for a Python worker"
        )

    vars_, vars_key = pick("vars")
    vars_ = {} if vars_ is None else dict(_expect(vars_, dict, file, vars_key, "a table"))

    triggers, triggers_key = pick("triggers")
    crons: list[str] = []
    if triggers is not None:
        _expect(triggers, dict, file, triggers_key, "a table with a `crons` list")
        _check_unknown(triggers, file, triggers_key + ".", allow=frozenset({"crons"}))
        if "crons" in triggers:
            crons = _string_list(triggers["crons"], file, triggers_key + ".crons")

    dev = _dev_settings(raw.get("dev"), file)

    bindings: list[BindingSpec] = []
    for kind in BINDING_TABLES:
        value, key = pick(kind)
        if value is not None:
            bindings.extend(_binding_specs(kind, value, file, key))

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
    _expect(value, dict, file, "dev", "a table")
    known = {"ip", "port", "local_protocol", "upstream_protocol", "host", "inspector_port",
             "enable_containers", "container_engine"}  # fmt: skip
    _check_unknown(value, file, "dev.", allow=frozenset(known))
    ip = value.get("ip", DevSettings.ip)
    _expect(ip, str, file, "dev.ip", "a string")
    port = value.get("port", DevSettings.port)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(file, "dev.port", f"expected a port number 0-65535, got {port!r}")
    return DevSettings(ip=ip, port=port)


def _binding_specs(kind: str, value: Any, file: Path, key: str) -> list[BindingSpec]:
    shape, name_field = BINDING_TABLES[kind]
    items: list[tuple[str, Any]]
    if shape == "table":
        _expect(value, dict, file, key, "a table")
        if kind == "assets" and "binding" not in value:
            return []
        items = [(key, value)]
    elif shape == "array":
        _expect(value, list, file, key, f"an array of tables ([[{key}]])")
        items = [(f"{key}[{i}]", item) for i, item in enumerate(value)]
    else:
        sub = "bindings" if shape == "bindings" else "producers"
        _expect(value, dict, file, key, f"a table with a `{sub}` array")
        entries = value.get(sub, [])
        _expect(entries, list, file, f"{key}.{sub}", "an array of tables")
        items = [(f"{key}.{sub}[{i}]", item) for i, item in enumerate(entries)]
    specs = []
    for item_key, item in items:
        _expect(item, dict, file, item_key, "a table")
        name = item.get(name_field)
        if name is None:
            raise ConfigError(file, f"{item_key}.{name_field}", "required: the name in env")
        _expect(name, str, file, f"{item_key}.{name_field}", "a string")
        fields = _BINDING_FIELDS.get(kind)
        if fields is not None:
            for field_name, field_type in fields.items():
                if field_name in item:
                    _expect(item[field_name], field_type, file, f"{item_key}.{field_name}",
                            "a string")  # fmt: skip
            known = frozenset({name_field, "remote", "database_internal_env", *fields})
            _check_unknown(item, file, item_key + ".", allow=known)
        for field_name in ("bucket_name", "preview_bucket_name"):
            bucket = item.get(field_name) if kind == "r2_buckets" else None
            if bucket is not None and not _BUCKET_NAME.match(bucket):
                raise ConfigError(
                    file, f"{item_key}.{field_name}",
                    "expected a bucket name of 3-63 lower-case letters, digits and '-', "
                    f"starting and ending with a letter or digit, got {bucket!r}",
                )  # fmt: skip
        specs.append(BindingSpec(kind=kind, name=name, options=dict(item)))
    return specs


def _warn_not_inherited(raw: dict, section: dict, file: Path, env: str) -> None:
    # Wrangler warns about exactly this mistake: vars and bindings are not inherited.
    for key in sorted(NOT_INHERITABLE & raw.keys() - section.keys()):
        _warn_once(
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


def _check_unknown(table: dict, file: Path, prefix: str, *, allow: frozenset[str]) -> None:
    for key in table:
        if key not in allow:
            where = "the top level" if not prefix else prefix.rstrip(".")
            if prefix.startswith("env.") and key in TOP_LEVEL_ONLY:
                _warn_once(f"{file}: {prefix}{key}: only valid at the top level; ignored")
            else:
                _warn_once(f"{file}: unknown key {key!r} in {where}; ignored")


def _expect(value: Any, kind: type | tuple[type, ...], file: Path, key: str, what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(file, key, f"expected {what}, got {_kind(value)}")
    return value


def _string_list(value: Any, file: Path, key: str) -> list[str]:
    _expect(value, list, file, key, "an array of strings")
    for i, item in enumerate(value):
        _expect(item, str, file, f"{key}[{i}]", "a string")
    return list(value)


def _kind(value: Any) -> str:
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
