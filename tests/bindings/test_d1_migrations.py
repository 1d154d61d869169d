"""D1 migrations: ordered, recorded, idempotent, atomic per file."""

from __future__ import annotations

import pytest

from bindings import d1
from bindings import d1_migrations as m
from bindings.d1 import D1Error
from bindings.registry import BindingHost
from emulator.config import BindingSpec


@pytest.fixture
async def db(tmp_path):
    host = BindingHost(state_dir=tmp_path / "state")
    yield d1.build(BindingSpec("d1_databases", "DB", {"database_id": "x"}), host)
    await host.close()


def write(folder, name, sql):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(sql)


async def test_apply_in_order_once(db, tmp_path):
    folder = tmp_path / "migrations"
    write(folder, "0002_add_email.sql", "ALTER TABLE users ADD COLUMN email TEXT;")
    write(folder, "0001_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n"
                                    "INSERT INTO users (name) VALUES ('ada');")  # fmt: skip
    write(folder, "notes.txt", "not sql")
    assert [p.name for p in await m.pending(db, folder)] == ["0001_users.sql", "0002_add_email.sql"]
    assert await m.apply(db, folder) == ["0001_users.sql", "0002_add_email.sql"]
    assert await m.apply(db, folder) == []
    assert await m.applied(db) == ["0001_users.sql", "0002_add_email.sql"]
    row = await db.prepare("SELECT name, email FROM users").first()
    assert row == {"name": "ada", "email": None}


async def test_failing_migration_leaves_no_trace_and_stops(db, tmp_path):
    folder = tmp_path / "migrations"
    write(folder, "0001_ok.sql", "CREATE TABLE a (x);")
    write(folder, "0002_bad.sql", "CREATE TABLE b (y);\nINSERT INTO nope VALUES (1);")
    write(folder, "0003_never.sql", "CREATE TABLE c (z);")
    with pytest.raises(D1Error, match=r"0002_bad\.sql"):
        await m.apply(db, folder)
    assert await m.applied(db) == ["0001_ok.sql"]
    tables = await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").raw()
    assert ["b"] not in tables and ["c"] not in tables and ["a"] in tables


async def test_custom_table_and_missing_folder(db, tmp_path):
    assert await m.apply(db, tmp_path / "absent") == []
    folder = tmp_path / "m"
    write(folder, "1.sql", "CREATE TABLE t (x);")
    assert await m.apply(db, folder, table="my_migrations") == ["1.sql"]
    assert await db.prepare("SELECT count(*) AS n FROM my_migrations").first("n") == 1
    with pytest.raises(D1Error, match="not a valid table name"):
        m.migrations_table(BindingSpec("d1_databases", "DB", {"migrations_table": "x; drop"}))
