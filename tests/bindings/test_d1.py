"""D1 binding: prepared statements, results shape, batch atomicity, exec, errors."""

from __future__ import annotations

import json

import pytest

from bindings import d1, registry
from bindings.d1 import D1Error, split_statements
from bindings.registry import BindingHost
from emulator.config import BindingSpec


@pytest.fixture
async def host(tmp_path):
    host = BindingHost(state_dir=tmp_path / "state")
    yield host
    await host.close()


def spec(**options):
    return BindingSpec("d1_databases", "DB", {"binding": "DB", **options})


@pytest.fixture
async def db(host):
    database = d1.build(spec(database_id="db-1", database_name="main"), host)
    await database.exec(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, admin INTEGER,"
        " avatar BLOB);\n"
        "INSERT INTO users (name, admin) VALUES ('ada', 1);\n"
        "INSERT INTO users (name, admin) VALUES ('bob', 0);"
    )
    return database


async def test_all_and_run_shape(db):
    result = await db.prepare("SELECT id, name FROM users ORDER BY id").all()
    assert result.success is True
    assert result.results == [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}]
    assert result.results[0].name == "ada"
    assert result.meta.rows_read == 2 and result.meta.changes == 0
    json.dumps(result)  # plain JSON, ready for Response.json
    written = await db.prepare("INSERT INTO users (name) VALUES (?)").bind("cy").run()
    assert written.meta.changes == 1 and written.meta.last_row_id == 3
    assert written.meta.changed_db is True and written.results == []


async def test_bind_first_and_column(db):
    stmt = db.prepare("SELECT * FROM users WHERE name = ?")
    row = await stmt.bind("ada").first()
    assert row == {"id": 1, "name": "ada", "admin": 1, "avatar": None}
    assert row.admin == 1
    assert await stmt.bind("ada").first("id") == 1
    assert await stmt.bind("nobody").first() is None
    with pytest.raises(D1Error, match="D1_COLUMN_NOTFOUND"):
        await stmt.bind("ada").first("missing")


async def test_bind_returns_new_statement_and_converts_values(db):
    insert = db.prepare("INSERT INTO users (name, admin, avatar) VALUES (?1, ?2, ?3)")
    bound = insert.bind("dee", True, b"\x01\x02")
    assert insert.params == () and bound.params == ("dee", 1, b"\x01\x02")
    await bound.run()
    row = await db.prepare("SELECT admin, avatar FROM users WHERE name = 'dee'").first()
    assert row == {"admin": 1, "avatar": [1, 2]}  # blobs come back as byte arrays, as on D1


async def test_raw(db):
    stmt = db.prepare("SELECT id, name FROM users ORDER BY id")
    assert await stmt.raw() == [[1, "ada"], [2, "bob"]]
    assert await stmt.raw(columnNames=True) == [["id", "name"], [1, "ada"], [2, "bob"]]
    assert (await stmt.raw({"columnNames": True}))[0] == ["id", "name"]


async def test_batch_is_atomic(db):
    results = await db.batch(
        [
            db.prepare("INSERT INTO users (name) VALUES (?)").bind("eve"),
            db.prepare("SELECT count(*) AS n FROM users"),
        ]
    )
    assert [r.success for r in results] == [True, True]
    assert results[1].results == [{"n": 3}]
    with pytest.raises(D1Error, match="UNIQUE constraint failed"):
        await db.batch(
            [
                db.prepare("INSERT INTO users (name) VALUES ('fay')"),
                db.prepare("INSERT INTO users (name) VALUES ('ada')"),  # duplicate
            ]
        )
    assert await db.prepare("SELECT count(*) AS n FROM users").first("n") == 3  # fay rolled back


async def test_errors(db):
    with pytest.raises(D1Error, match=r"^D1_ERROR: no such table: nope: SQLITE_ERROR"):
        await db.prepare("SELECT * FROM nope").all()
    with pytest.raises(D1Error, match="Wrong number of parameter bindings"):
        await db.prepare("SELECT * FROM users WHERE id = ?").all()
    with pytest.raises(D1Error, match="D1_TYPE_ERROR"):
        db.prepare("SELECT ?").bind({"a": 1})
    with pytest.raises(D1Error, match="D1_ERROR"):
        db.prepare("  ")
    with pytest.raises(D1Error, match="NOT NULL constraint failed"):
        await db.prepare("INSERT INTO users (admin) VALUES (1)").run()
    with pytest.raises(D1Error, match="D1_EXEC_ERROR: Error in line 2"):
        await db.exec("SELECT 1;\nSELECT * FROM nope;")
    # the database is unharmed by the failures
    assert await db.prepare("SELECT count(*) AS n FROM users").first("n") == 2


async def test_foreign_keys_enforced(db):
    await db.exec(
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id));"
    )
    with pytest.raises(D1Error, match="FOREIGN KEY"):
        await db.prepare("INSERT INTO posts (user_id) VALUES (99)").run()


async def test_exec_counts_and_persistence(host, tmp_path, db):
    result = await db.exec("CREATE TABLE t (x);\nINSERT INTO t VALUES ('a;b');\n-- done\n")
    assert result.count == 2 and result.duration >= 0
    await host.close()
    again = BindingHost(state_dir=tmp_path / "state")
    try:
        reopened = d1.build(spec(database_id="db-1"), again)
        assert await reopened.prepare("SELECT x FROM t").first("x") == "a;b"
    finally:
        await again.close()
    assert (tmp_path / "state" / "v3" / "d1" / "db-1.sqlite").is_file()


async def test_dump_and_sessions(db):
    data = await db.dump()
    assert data.startswith(b"SQLite format 3")
    session = db.withSession("first-unconstrained")
    assert await session.prepare("SELECT 1 AS one").first("one") == 1
    assert session.getBookmark() is None


async def test_database_without_id_uses_name_then_binding(host):
    assert d1.build(spec(database_name="named"), host).database_id == "named"
    assert d1.build(spec(), host).database_id == "DB"


def test_split_statements():
    script = "CREATE TABLE a (x);\nINSERT INTO a VALUES ('1;2');\n\n;SELECT 1"
    assert split_statements(script) == [
        "CREATE TABLE a (x);",
        "INSERT INTO a VALUES ('1;2');",
        "SELECT 1;",
    ]
    trigger = "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2; END;"
    assert split_statements(trigger) == [trigger]


def test_registered():
    assert registry.KINDS["d1_databases"] == "bindings.d1"
    assert registry.get("d1_databases") is d1.KIND and d1.KIND.emulated
