"""What is stored in a namespace's objects, for people: `edge do list` / `edge do dump`.

Reads the files `edge dev` writes (a second SQLite connection, safe while it runs) and
turns stored values into JSON-friendly data (bytes as base64 strings, sets as lists,
datetimes as ISO text), so they can be printed or diffed.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

from bindings.durable_objects import clone
from bindings.durable_objects.objects import ObjectClass
from bindings.durable_objects.storage import ObjectStorage

__all__ = ["dump", "summary"]


def summary(objects: ObjectClass) -> list[dict[str, Any]]:
    """One line per stored object: id, size, key and table counts, alarm."""
    rows = []
    for key in objects.stored_ids():
        storage = _open(objects, key)
        try:
            db = storage.db
            rows.append({
                "id": key,
                "bytes": objects.path(key).stat().st_size,
                "keys": db.execute("SELECT count(*) FROM _cf_KV").fetchone()[0],
                "tables": [name for (name,) in db.execute(_TABLES)],
                "alarm": storage.read_alarm(),
            })  # fmt: skip
        finally:
            storage.close()
    return rows


def dump(objects: ObjectClass, key: str) -> dict[str, Any]:
    """Everything one object stores: its KV entries, SQL tables (rows) and alarm."""
    storage = _open(objects, key)
    try:
        db = storage.db
        kv = {k.decode(): _plain(clone.decode(v))
              for k, v in db.execute("SELECT key, value FROM _cf_KV ORDER BY key")}  # fmt: skip
        tables = {}
        for (name,) in db.execute(_TABLES).fetchall():
            cursor = db.execute(f'SELECT * FROM "{name.replace(chr(34), chr(34) * 2)}"')
            columns = [c[0] for c in cursor.description]
            tables[name] = [dict(zip(columns, map(_plain, row), strict=True)) for row in cursor]
        return {"id": key, "kv": kv, "tables": tables, "alarm": storage.read_alarm()}
    finally:
        storage.close()


_TABLES = ("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
           " AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name")  # fmt: skip


def _open(objects: ObjectClass, key: str) -> ObjectStorage:
    return ObjectStorage(objects.path(key), sql_enabled=objects.sql_enabled)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, BaseException):
        return str(value)
    return value
