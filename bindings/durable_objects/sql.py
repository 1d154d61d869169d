"""`ctx.storage.sql`: the SQL API of SQLite-backed Durable Objects.

Follows https://developers.cloudflare.com/durable-objects/api/sqlite-storage-api/ and
workerd `src/workerd/api/sql.c++`: `exec(query, *bindings)` runs every statement of
`query` (bindings go to the last one) and returns a cursor over the last; rows are
dicts with attribute access (`cursor.one().greeting`), `raw()` gives lists of values;
`columnNames`, `rowsRead`, `rowsWritten`; `databaseSize`. Errors carry SQLite's
message and code name (`no such table: t: SQLITE_ERROR`). As workerd does, user SQL
cannot touch `_cf_*` tables, run most PRAGMAs, ATTACH, or control transactions itself
(BEGIN/SAVEPOINT are refused with workerd's message), and integers beyond 2**53 come
back as floats (a JS number). The statement runs inside the object's implicit
transaction, so its writes commit with the event's other writes.

`rowsRead` counts the rows the cursor returned and `rowsWritten` the rows changed
(SQLite's `total_changes`): Python's sqlite3 does not expose the per-statement scan
counters workerd bills with, so a query that scans more than it returns reads low.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from bindings.durable_objects.storage import MAX_ROW_SIZE
from emulator.errors import EdgeError
from emulator.sdk.attrdict import AttrDict

if TYPE_CHECKING:
    from bindings.durable_objects.storage import ObjectStorage

__all__ = ["SQL_LIMITS", "Cursor", "SqlStorage", "SqlStorageError", "authorizer"]

TRANSACTION_REFUSED = (
    "To execute a transaction, please use the state.storage.transaction() or "
    "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT "
    "statements. The JavaScript API is safer because it will automatically roll back on "
    "exceptions, and because it interacts correctly with Durable Objects' automatic atomic "
    "write coalescing."
)
#: workerd's SQL limits (https://developers.cloudflare.com/durable-objects/platform/limits/)
SQL_LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: MAX_ROW_SIZE,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 100,
    sqlite3.SQLITE_LIMIT_COLUMN: 100,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 32,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 50,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
}
#: PRAGMAs user SQL may run: introspection and foreign-key control, as workerd allows.
ALLOWED_PRAGMAS = frozenset({
    "data_version", "defer_foreign_keys", "foreign_keys", "foreign_key_check",
    "foreign_key_list", "index_info", "index_list", "index_xinfo", "integrity_check",
    "optimize", "quick_check", "table_info", "table_list", "table_xinfo",
})  # fmt: skip
_MAX_SAFE = 2**53
_TABLE_ARG = {  # which authorizer argument names the table, per action (as sql.c++)
    sqlite3.SQLITE_CREATE_INDEX: 1, sqlite3.SQLITE_CREATE_TABLE: 0,
    sqlite3.SQLITE_CREATE_TEMP_INDEX: 1, sqlite3.SQLITE_CREATE_TEMP_TABLE: 0,
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER: 1, sqlite3.SQLITE_CREATE_TRIGGER: 1,
    sqlite3.SQLITE_DELETE: 0, sqlite3.SQLITE_DROP_INDEX: 1, sqlite3.SQLITE_DROP_TABLE: 0,
    sqlite3.SQLITE_DROP_TEMP_INDEX: 1, sqlite3.SQLITE_DROP_TEMP_TABLE: 0,
    sqlite3.SQLITE_DROP_TEMP_TRIGGER: 1, sqlite3.SQLITE_DROP_TRIGGER: 1,
    sqlite3.SQLITE_INSERT: 0, sqlite3.SQLITE_READ: 0, sqlite3.SQLITE_UPDATE: 0,
    sqlite3.SQLITE_ALTER_TABLE: 1, sqlite3.SQLITE_ANALYZE: 0,
    sqlite3.SQLITE_CREATE_VTABLE: 0, sqlite3.SQLITE_DROP_VTABLE: 0,
}  # fmt: skip
_REFUSED = frozenset({sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH})


class SqlStorageError(EdgeError):
    """A failed SQL statement; the message is SQLite's, ending in its code name."""


def authorizer(storage: ObjectStorage) -> Callable[..., int]:
    """The SQLite authorizer of an object's connection: open for edge's own queries,
    workerd's rules while user SQL is prepared."""

    def check(action: int, arg1: Any, arg2: Any, db_name: Any, trigger: Any) -> int:
        if storage.trusted:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_TRANSACTION or action == sqlite3.SQLITE_SAVEPOINT:
            storage.denied_transaction = True
            return sqlite3.SQLITE_DENY
        if action in _REFUSED:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA:
            allowed = str(arg1).lower() in ALLOWED_PRAGMAS
            return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY
        index = _TABLE_ARG.get(action)
        table = (arg1, arg2)[index] if index is not None else None
        if isinstance(table, str) and table.startswith("_cf_"):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    return check


class SqlStorage:
    """`ctx.storage.sql` of one object."""

    def __init__(self, storage: ObjectStorage) -> None:
        self._storage = storage

    def exec(self, query: str, *bindings: Any) -> Cursor:
        """Run `query` (one or more statements; `bindings` fill the `?` of the last) and
        return a cursor over the last statement's rows."""
        if not isinstance(query, str):
            raise TypeError(f"exec() takes the SQL text first, got {type(query).__name__}")
        params = [_binding(i, value) for i, value in enumerate(bindings, 1)]
        storage = self._storage
        db = storage.begin()
        statements = split_statements(query)
        before = db.total_changes
        storage.trusted = False
        storage.denied_transaction = False
        try:
            for statement in statements[:-1]:
                db.execute(statement).fetchall()
            cursor = db.execute(statements[-1] if statements else "", params)
        except sqlite3.ProgrammingError as exc:
            if "number of bindings" in str(exc):
                raise SqlStorageError("Wrong number of parameter bindings for SQL query.") from None
            raise SqlStorageError(str(exc)) from None
        except sqlite3.Error as exc:
            if storage.denied_transaction:
                raise SqlStorageError(TRANSACTION_REFUSED) from None
            raise SqlStorageError(_message(exc)) from None
        finally:
            storage.trusted = True
        return Cursor(cursor, db, before)

    @property
    def databaseSize(self) -> int:
        """The database's size in bytes (its pages in use)."""
        db = self._storage.db
        pages = db.execute(
            "SELECT (SELECT * FROM pragma_page_count) - (SELECT * FROM pragma_freelist_count)"
        ).fetchone()[0]
        return pages * db.execute("PRAGMA page_size").fetchone()[0]

    database_size = databaseSize


class Cursor:
    """The rows of one `exec()`: iterate it, or `toArray()`, `one()`, `raw()`, `next()`."""

    def __init__(self, cursor: sqlite3.Cursor, db: sqlite3.Connection, changes_before: int) -> None:
        self._cursor = cursor
        self._db = db
        self.columnNames = [column[0] for column in cursor.description or ()]
        self._read = 0
        self._written = db.total_changes - changes_before
        self._done = cursor.description is None

    @property
    def rowsRead(self) -> int:
        return self._read

    @property
    def rowsWritten(self) -> int:
        return self._written

    def _next_values(self) -> list[Any] | None:
        if self._done:
            return None
        before = self._db.total_changes
        try:
            row = self._cursor.fetchone()
        except sqlite3.Error as exc:
            self._done = True
            raise SqlStorageError(_message(exc)) from None
        self._written += self._db.total_changes - before
        if row is None:
            self._done = True
            return None
        self._read += 1
        return [_result(value) for value in row]

    def _next_row(self) -> AttrDict | None:
        values = self._next_values()
        return None if values is None else AttrDict(zip(self.columnNames, values, strict=True))

    def __iter__(self) -> Iterator[AttrDict]:
        return self

    def __next__(self) -> AttrDict:
        row = self._next_row()
        if row is None:
            raise StopIteration
        return row

    def next(self) -> AttrDict:
        """The JavaScript iterator step: `{done, value}`."""
        row = self._next_row()
        return AttrDict(done=row is None, value=row)

    def toArray(self) -> list[AttrDict]:
        """The remaining rows."""
        return list(self)

    to_array = toArray

    def one(self) -> AttrDict:
        """The only row; raises when there is none or more than one."""
        row = self._next_row()
        if row is None:
            raise SqlStorageError("Expected exactly one result from SQL query, but got no results.")
        if self._next_values() is not None:
            self._done = True
            raise SqlStorageError(
                "Expected exactly one result from SQL query, but got multiple results."
            )
        return row

    def raw(self) -> RawIterator:
        """The same rows as lists of values, sharing this cursor's position."""
        return RawIterator(self)


class RawIterator:
    """`cursor.raw()`: rows as lists of column values."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor
        self.columnNames = cursor.columnNames

    def __iter__(self) -> Iterator[list[Any]]:
        return self

    def __next__(self) -> list[Any]:
        values = self._cursor._next_values()
        if values is None:
            raise StopIteration
        return values

    def next(self) -> AttrDict:
        values = self._cursor._next_values()
        return AttrDict(done=values is None, value=values)

    def toArray(self) -> list[list[Any]]:
        return list(self)

    to_array = toArray


def split_statements(query: str) -> list[str]:
    """The statements of `query`, split where SQLite says a statement is complete (so a
    `;` inside a string or a trigger body does not split)."""
    statements: list[str] = []
    start = 0
    index = query.find(";")
    while index != -1:
        candidate = query[start : index + 1]
        if sqlite3.complete_statement(candidate):
            statements.append(candidate)
            start = index + 1
        index = query.find(";", index + 1)
    rest = query[start:]
    if rest.strip() or not statements:
        statements.append(rest)
    return statements


def _binding(index: int, value: Any) -> Any:
    if value is None or isinstance(value, int | float | str | bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(
        f"exec() binding {index} is a {type(value).__name__}; SQL values are None, int, "
        "float, str or bytes (json.dumps other values)"
    )


def _result(value: Any) -> Any:
    if isinstance(value, int) and abs(value) > _MAX_SAFE:
        return float(value)  # workerd returns every integer as a JS number
    return value


def _message(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", None) or "SQLITE_ERROR"
    return f"{exc}: {name}"
