"""`ctx.storage.sql`: exec, cursors, workerd's refusals and error wording."""

from __future__ import annotations

import pytest

from bindings.durable_objects.sql import SqlStorageError, split_statements
from bindings.durable_objects.storage import ObjectStorage


@pytest.fixture
def sql(tmp_path):
    store = ObjectStorage(tmp_path / "obj.sqlite")
    sql = store.sql
    sql.exec(
        "CREATE TABLE artist(artistid INTEGER PRIMARY KEY, artistname TEXT);"
        "INSERT INTO artist VALUES (123, 'Alice'), (456, 'Bob'), (789, 'Charlie');"
    )
    yield sql
    store.close()


def test_rows_as_dicts_with_attribute_access(sql):
    cursor = sql.exec("SELECT * FROM artist ORDER BY artistname")
    assert cursor.columnNames == ["artistid", "artistname"]
    first = cursor.next()
    assert first.done is False and first.value.artistname == "Alice"
    assert cursor.toArray() == [{"artistid": 456, "artistname": "Bob"},
                                {"artistid": 789, "artistname": "Charlie"}]  # fmt: skip
    assert cursor.next().done is True and cursor.rowsRead == 3
    assert [row.artistid for row in sql.exec("SELECT artistid FROM artist")] == [123, 456, 789]


def test_raw_shares_the_cursor(sql):
    cursor = sql.exec("SELECT * FROM artist ORDER BY artistname")
    assert cursor.raw().next().value == [123, "Alice"]
    assert cursor.raw().toArray() == [[456, "Bob"], [789, "Charlie"]]


def test_one(sql):
    assert sql.exec("SELECT * FROM artist WHERE artistname = ?", "Bob").one().artistid == 456
    with pytest.raises(SqlStorageError, match=r"^Expected exactly one result from SQL query, "
                                              r"but got no results\.$"):
        sql.exec("SELECT * FROM artist WHERE artistid = 0").one()
    with pytest.raises(SqlStorageError, match=r"but got multiple results\."):
        sql.exec("SELECT * FROM artist").one()


def test_rows_written_and_bindings_apply_to_the_last_statement(sql):
    cursor = sql.exec("UPDATE artist SET artistname = upper(artistname); "
                      "DELETE FROM artist WHERE artistid = ?", 123)  # fmt: skip
    assert cursor.rowsWritten == 4 and cursor.toArray() == []
    assert sql.exec("SELECT artistname FROM artist").raw().toArray() == [["BOB"], ["CHARLIE"]]


def test_values_come_back_as_javascript_sees_them(sql):
    row = sql.exec("SELECT ? AS big, ? AS blob, ? AS flag, NULL AS n", 2**60, b"\x00\x01",
                   True).one()  # fmt: skip
    assert row == {"big": float(2**60), "blob": b"\x00\x01", "flag": 1, "n": None}


@pytest.mark.parametrize(
    ("query", "args", "message"),
    [
        ("SELECT * FROM nope", (), "no such table: nope: SQLITE_ERROR"),
        ("SELECT * FROM _cf_KV", (), "access to _cf_KV.key is prohibited: SQLITE_AUTH"),
        ("PRAGMA journal_mode=DELETE", (), "not authorized: SQLITE_AUTH"),
        ("ATTACH DATABASE 'x.db' AS x", (), "not authorized"),
        ("BEGIN TRANSACTION", (), "To execute a transaction, please use the "
                                  "state.storage.transaction() or state.storage."
                                  "transactionSync() APIs"),
        ("SAVEPOINT s", (), "instead of the SQL BEGIN TRANSACTION or SAVEPOINT statements"),
        ("SELECT ?", (1, 2), "Wrong number of parameter bindings for SQL query."),
    ],
)
def test_refusals_and_errors_use_workerds_wording(sql, query, args, message):
    with pytest.raises(SqlStorageError) as info:
        sql.exec(query, *args)
    assert message in str(info.value)


def test_introspection_pragmas_are_allowed(sql):
    names = [row.name for row in sql.exec("PRAGMA table_info(artist)")]
    assert names == ["artistid", "artistname"]


def test_limits(sql):
    with pytest.raises(SqlStorageError, match=r"too many SQL variables|SQLITE_RANGE|SQLITE_ERROR"):
        sql.exec("SELECT " + ", ".join("?" * 101), *range(101))
    with pytest.raises(TypeError, match="binding 1 is a dict"):
        sql.exec("SELECT ?", {"a": 1})


def test_database_size_grows(sql):
    before = sql.databaseSize
    sql.exec("CREATE TABLE big (v); INSERT INTO big VALUES (randomblob(100000))")
    assert sql.databaseSize > before > 0


def test_split_statements_respects_strings_and_triggers():
    query = ("CREATE TABLE t (v); CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
             "UPDATE t SET v = 'a;b'; END; SELECT ';'")  # fmt: skip
    parts = split_statements(query)
    assert len(parts) == 3 and parts[2].strip() == "SELECT ';'"
    assert split_statements("SELECT 1") == ["SELECT 1"]
