"""`[[migrations]]`: which Durable Object classes exist, and their storage backend.

Shape checks use Wrangler's wording (workers-sdk `packages/wrangler/src/config/
validation.ts`, `validateMigrations`); the checks Cloudflare makes when it applies
migrations at deploy (a tag used twice, a class created twice, renaming or deleting a
class that does not exist) are made here too, so a config that `wrangler deploy` would
refuse fails locally. Applying the list in order gives, per live class, its backend
(`new_sqlite_classes`: SQLite, `new_classes`: the legacy KV backend) and the class it
was first created as: a renamed class keeps its objects (same ids, same files).
Deleted classes' stored objects are left on disk (delete `.wrangler/state` to drop them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from emulator.config import WorkerConfig
from emulator.config_checks import warn_once
from emulator.errors import ConfigError

__all__ = ["Migrations", "read"]

_KEYS = ("tag", "new_classes", "new_sqlite_classes", "renamed_classes", "deleted_classes")


@dataclass
class Migrations:
    """The outcome of applying every migration, in order."""

    present: bool = False
    backend: dict[str, str] = field(default_factory=dict)  # class -> "sqlite" | "kv"
    origin: dict[str, str] = field(default_factory=dict)  # class -> name first created as
    deleted: dict[str, str] = field(default_factory=dict)  # class -> "migrations[i]"


def read(config: WorkerConfig) -> Migrations:
    """The migrations of `config`'s active environment, checked and applied."""
    raw: Any = config.raw.get("migrations")
    if config.env_name is not None:
        section = config.raw.get("env", {}).get(config.env_name, {})
        if isinstance(section, dict) and "migrations" in section:
            raw = section["migrations"]
    if raw is None:
        return Migrations()
    if not isinstance(raw, list):
        _fail(config, f'The optional "migrations" field should be an array, but got {_js(raw)}')
    result = Migrations(present=True)
    tags: dict[str, int] = {}
    for i, migration in enumerate(raw):
        where = f"migrations[{i}]"
        _check_shape(config, where, migration)
        tag = migration["tag"]
        if tag in tags:
            _fail(config, f'{where}.tag: "{tag}" is already the tag of migrations[{tags[tag]}]; '
                          "every migration needs a tag of its own")  # fmt: skip
        tags[tag] = i
        for key, backend in (("new_classes", "kv"), ("new_sqlite_classes", "sqlite")):
            for name in migration.get(key, []):
                if name in result.backend:
                    _fail(config, f'{where}.{key}: class "{name}" already exists '
                                  "(an earlier migration created it)")  # fmt: skip
                result.backend[name] = backend
                result.origin[name] = name
                result.deleted.pop(name, None)
        for rename in migration.get("renamed_classes", []):
            old, new = rename["from"], rename["to"]
            if old not in result.backend:
                _fail(config, f'{where}.renamed_classes: class "{old}" does not exist, so it '
                              "cannot be renamed")  # fmt: skip
            if new in result.backend:
                _fail(config, f'{where}.renamed_classes: class "{new}" already exists')
            result.backend[new] = result.backend.pop(old)
            result.origin[new] = result.origin.pop(old)
        for name in migration.get("deleted_classes", []):
            if name not in result.backend:
                _fail(config, f'{where}.deleted_classes: class "{name}" does not exist, so '
                              "it cannot be deleted")  # fmt: skip
            del result.backend[name], result.origin[name]
            result.deleted[name] = where
    return result


def _check_shape(config: WorkerConfig, where: str, migration: Any) -> None:
    if not isinstance(migration, dict):
        _fail(config, f'Expected "{where}" to be an object but got {_js(migration)}')
    extra = ",".join(f'"{key}"' for key in migration if key not in _KEYS)
    if extra:  # Wrangler warns and carries on
        warn_once(f"{config.file}: Unexpected fields found in migrations field: {extra}")
    tag = migration.get("tag")
    if tag is None:
        _fail(config, f'"{where}.tag" is a required field.')
    if not isinstance(tag, str):
        _fail(config, f'Expected "{where}.tag" to be of type string but got {_js(tag)}.')
    for key in ("new_classes", "new_sqlite_classes", "deleted_classes"):
        value = migration.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            _fail(config, f'Expected "{where}.{key}" to be an array of strings but got '
                          f"{_js(value)}")  # fmt: skip
        for j, item in enumerate(value):
            if not isinstance(item, str):
                _fail(config, f'Expected "{where}.{key}[{j}]" to be of type string but got '
                              f"{_js(item)}.")  # fmt: skip
    renamed = migration.get("renamed_classes")
    if renamed is not None and not (isinstance(renamed, list) and all(map(_is_rename, renamed))):
        _fail(config, f'Expected "{where}.renamed_classes" to be an array of "{{from: string, '
                      f'to: string}}" objects but got {_js(renamed)}.')  # fmt: skip


def _is_rename(item: Any) -> bool:
    return isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ("from", "to"))


def _fail(config: WorkerConfig, problem: str) -> None:
    raise ConfigError(config.file, None, problem)


def _js(value: Any) -> str:
    return json.dumps(value, default=str)
