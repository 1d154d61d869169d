"""D1 migrations, as `wrangler d1 migrations list/apply --local` run them.

Migrations are the `.sql` files of the binding's `migrations_dir` (default `migrations`,
beside the wrangler file), applied in file-name order (`0001_create_users.sql`, ...).
Each applied file is recorded in `migrations_table` (default `d1_migrations`: `id`,
`name`, `applied_at`), so applying again only runs the new ones. Each migration runs in
its own transaction together with its record: a failing file leaves no trace and stops
the run. See https://developers.cloudflare.com/d1/reference/migrations/.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from bindings.d1 import D1Database, D1Error, failure, split_statements
from bindings.storage import transaction
from emulator.config import BindingSpec, WorkerConfig

DEFAULT_DIR = "migrations"
DEFAULT_TABLE = "d1_migrations"
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def migrations_dir(config: WorkerConfig, spec: BindingSpec) -> Path:
    return (config.root / spec.options.get("migrations_dir", DEFAULT_DIR)).resolve()


def migrations_table(spec: BindingSpec) -> str:
    table = spec.options.get("migrations_table", DEFAULT_TABLE)
    if not _TABLE_NAME.match(table):
        raise D1Error(f"D1_ERROR: migrations_table {table!r} is not a valid table name")
    return table


def migration_files(folder: Path) -> list[Path]:
    """The folder's `.sql` files in the order they apply."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.suffix == ".sql" and path.is_file())


async def applied(database: D1Database, table: str = DEFAULT_TABLE) -> list[str]:
    """Names of the migrations already applied to `database`."""

    def read(conn: sqlite3.Connection) -> list[str]:
        _ensure_table(conn, table)
        return [row[0] for row in conn.execute(f"SELECT name FROM {table} ORDER BY id")]

    return await database._db.run(read)


async def pending(database: D1Database, folder: Path, table: str = DEFAULT_TABLE) -> list[Path]:
    done = set(await applied(database, table))
    return [path for path in migration_files(folder) if path.name not in done]


async def apply(database: D1Database, folder: Path, table: str = DEFAULT_TABLE) -> list[str]:
    """Apply the pending migrations in order; returns the names applied. Raises
    `D1Error` naming the file (and the statement) that failed."""
    names = []
    for path in await pending(database, folder, table):
        statements = split_statements(path.read_text(encoding="utf-8"))

        def run(conn: sqlite3.Connection, path: Path = path, statements=statements) -> None:
            for sql in statements:
                try:
                    conn.execute(sql).fetchall()
                except sqlite3.Error as exc:
                    where = f"D1_ERROR: migration {path.name} failed at {sql!r}"
                    raise failure(conn, exc, where, code=False) from exc
            conn.execute(f"INSERT INTO {table} (name) VALUES (?)", (path.name,))

        await database._db.run(lambda conn, run=run: transaction(conn, run))
        names.append(path.name)
    return names


def _ensure_table(conn: sqlite3.Connection, table: str) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " name TEXT UNIQUE, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
