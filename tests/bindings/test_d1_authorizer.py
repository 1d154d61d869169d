"""What D1 refuses (ATTACH, VACUUM, other schemas, temp objects, SQL transactions, PRAGMAs
outside its list, `_cf_` names), refused with D1's wording, through the binding, `exec`,
`batch`, migrations and `edge d1 execute`; and the SQL D1 accepts keeps working."""

from __future__ import annotations

import pytest

from bindings import d1, d1_migrations
from bindings.d1 import D1Error
from emulator.config import BindingSpec

REFUSED = "D1_ERROR: not authorized: SQLITE_AUTH"


@pytest.fixture
async def db(host):
    database = d1.build(BindingSpec("d1_databases", "DB", {"database_id": "app"}), host)
    await database.exec(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT UNIQUE, nick TEXT);\n"
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id));\n"
        "CREATE INDEX posts_user ON posts (user_id);\n"
        "INSERT INTO users (name) VALUES ('ada');"
    )
    return database


async def refusal(db, sql: str) -> D1Error:
    with pytest.raises(D1Error) as caught:
        await db.prepare(sql).all()
    assert str(caught.value) == REFUSED
    return caught.value


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("ATTACH DATABASE '{outside}/stolen.sqlite' AS stolen", "ATTACH"),
        ("ATTACH '{outside}/stolen.sqlite' AS stolen", "ATTACH"),
        ("VACUUM INTO '{outside}/stolen.sqlite'", "VACUUM"),
        ("VACUUM", "VACUUM"),
        ("DETACH DATABASE main", "DETACH"),
    ],
)
async def test_no_other_database_files(tmp_path, db, sql, why):
    outside = tmp_path / "outside"
    outside.mkdir()
    error = await refusal(db, sql.format(outside=outside))
    assert why in "\n".join(error.__notes__)
    assert list(outside.iterdir()) == []  # no file was created, read or written


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN TRANSACTION",
        "BEGIN IMMEDIATE",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT s1",
        "RELEASE s1",
        "CREATE TEMP TABLE scratch (x)",
        "CREATE TEMPORARY VIEW v AS SELECT 1",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA writable_schema = ON",
        "PRAGMA database_list",
        "PRAGMA foreign_keys = 'maybe'",
        "PRAGMA table_info",
        "SELECT * FROM pragma_page_count()",
        "CREATE TABLE _cf_mine (x)",
        "CREATE TABLE _CF_KV2 (x)",
        "CREATE INDEX _cf_index ON users (name)",
        "PRAGMA table_info(_cf_KV)",
        "CREATE VIRTUAL TABLE r USING rtree(id, a, b)",
    ],
)
async def test_what_d1_refuses(db, sql):
    error = await refusal(db, sql)
    assert error.__notes__ and error.__notes__[0].startswith("edge: ")


async def test_transactions_point_to_batch(db):
    error = await refusal(db, "BEGIN TRANSACTION")
    assert "env.DB.batch(" in error.__notes__[0]


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA table_list",
        "PRAGMA table_info(users)",
        "PRAGMA table_info('users')",
        "PRAGMA main.table_info(users)",
        "PRAGMA table_xinfo(users)",
        "PRAGMA index_list(posts)",
        "PRAGMA index_info(posts_user)",
        "PRAGMA index_xinfo(posts_user)",
        "PRAGMA foreign_key_list(posts)",
        "PRAGMA foreign_key_check",
        "PRAGMA foreign_key_check(posts)",
        "PRAGMA quick_check",
        "PRAGMA foreign_keys",
        "PRAGMA foreign_keys = ON",
        "PRAGMA defer_foreign_keys = on",
        "PRAGMA case_sensitive_like = 'true'",
        "PRAGMA ignore_check_constraints = 0",
        "PRAGMA legacy_alter_table = off",
        "PRAGMA recursive_triggers = yes",
        "PRAGMA reverse_unordered_selects = FALSE",
        "PRAGMA optimize",
        "PRAGMA data_version",
        "SELECT name FROM sqlite_master WHERE type = 'table'",
        "SELECT * FROM pragma_table_info('users')",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3)"
        " SELECT i FROM n",
        "SELECT json_extract('{\"a\": 1}', '$.a') AS a, upper(name) FROM users",
        "CREATE TABLE cf_kv (x)",  # only the `_cf_` prefix is D1's
        "CREATE VIRTUAL TABLE docs USING fts5(body)",
        "ALTER TABLE users ADD COLUMN email TEXT",
        "ALTER TABLE users RENAME TO people",
        "ALTER TABLE users RENAME COLUMN name TO full_name",
        "ALTER TABLE users DROP COLUMN nick",
        "CREATE TRIGGER t AFTER INSERT ON users BEGIN SELECT 1; END",
        "CREATE VIEW names AS SELECT name FROM users",
        "ANALYZE",
        "REINDEX",
    ],
)
async def test_what_d1_accepts(db, sql):
    assert (await db.prepare(sql).all()).success is True


async def test_batch_exec_and_migrations_keep_their_own_transactions(db, tmp_path):
    results = await db.batch([db.prepare("INSERT INTO users (name) VALUES ('bob')"),
                              db.prepare("SELECT count(*) AS n FROM users")])  # fmt: skip
    assert results[1].results == [{"n": 2}]
    with pytest.raises(D1Error, match="not authorized"):
        await db.batch([db.prepare("INSERT INTO users (name) VALUES ('cy')"),
                        db.prepare("ATTACH ':memory:' AS other")])  # fmt: skip
    assert await db.prepare("SELECT count(*) AS n FROM users").first("n") == 2  # rolled back
    # our own BEGIN IMMEDIATE and PRAGMA page_count ran; a user's same text is still refused
    await refusal(db, "BEGIN IMMEDIATE")
    await refusal(db, "PRAGMA page_count")
    with pytest.raises(D1Error, match=r"^D1_EXEC_ERROR: Error in line 2: VACUUM.*not authorized"):
        await db.exec("SELECT 1;\nVACUUM;")

    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("PRAGMA defer_foreign_keys = on;\n"
                                        "CREATE TABLE tags (name TEXT);\n")  # fmt: skip
    (folder / "0002_bad.sql").write_text("ATTACH 'x.sqlite' AS x;\n")
    with pytest.raises(D1Error, match=r"0002_bad\.sql.*not authorized"):
        await d1_migrations.apply(db, folder)
    assert await d1_migrations.applied(db) == ["0001_ok.sql"]
