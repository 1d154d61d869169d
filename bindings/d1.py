"""D1 (`[[d1_databases]]`): a local SQLite database per binding.

Mirrors the Workers API (https://developers.cloudflare.com/d1/worker-api/) as Python
Workers call it: `await env.DB.prepare("SELECT * FROM t WHERE id = ?").bind(1).first()`,
`.all()` / `.run()` (a D1 result: `{success, meta, results}`), `.raw(columnNames=True)`,
`await env.DB.batch([...])` (one transaction: all statements or none), and
`await env.DB.exec(sql)` (`{count, duration}`). As on D1, booleans bind as 1/0, blobs come
back as lists of byte values (JSON arrays), foreign keys are enforced, and errors read
`D1_ERROR: <sqlite message>: SQLITE_ERROR`. What D1 refuses (ATTACH, VACUUM, SQL
transactions, most PRAGMAs...) is refused by `bindings.d1_authorizer` with D1's
`D1_ERROR: not authorized: SQLITE_AUTH`. Queries run on the database's own thread,
never on the event loop. Storage: `<state>/v3/d1/<database_id>.sqlite`.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from bindings.contract import BindingHost, BindingKind, BindingSpec, Field
from bindings.d1_authorizer import GuardedConnection
from bindings.storage import SqliteFile, binding_path, shared_db, transaction, trusted, usv
from emulator.errors import EdgeError
from emulator.sdk.attrdict import AttrDict, wrap


class D1Error(EdgeError):
    """A failed D1 call; the message starts with D1's code (D1_ERROR, D1_TYPE_ERROR...)."""


class D1Database:
    """`env.<BINDING>` for one D1 database."""

    def __init__(self, db: SqliteFile, database_id: str) -> None:
        self._db = db
        self.database_id = database_id

    def describe(self) -> list[str]:
        return [f"database {self.database_id} at {self._db.path}"]

    def prepare(self, query: str) -> PreparedStatement:
        if not isinstance(query, str) or not query.strip():
            raise D1Error("D1_ERROR: Cannot prepare an empty query")
        return PreparedStatement(self, usv(query), ())

    async def batch(self, statements: Iterable[PreparedStatement]) -> list[AttrDict]:
        """Run the statements in order in one transaction; one failure rolls back all."""
        if not isinstance(statements, Iterable) or isinstance(statements, str | bytes | dict):
            raise D1Error("D1_TYPE_ERROR: batch() takes a list of prepared statements, got "
                          f"{type(statements).__name__}")  # fmt: skip
        statements = list(statements)
        for i, statement in enumerate(statements):
            if not isinstance(statement, PreparedStatement):
                raise D1Error(f"D1_TYPE_ERROR: batch() item {i} is not a prepared statement")
            if statement._database is not self:
                raise D1Error(f"D1_ERROR: batch() item {i} was prepared on another database")

        def run_all(conn: sqlite3.Connection) -> list[dict]:
            return [_execute(conn, s.query, s.params) for s in statements]

        results = await self._db.run(lambda conn: transaction(conn, run_all))
        return [_result(result) for result in results]

    async def exec(self, query: str) -> AttrDict:
        """Run one or more `;`-separated statements without bindings: `{count, duration}`."""
        if not isinstance(query, str):
            raise D1Error(f"D1_TYPE_ERROR: exec() takes SQL text, got {type(query).__name__}")
        statements = split_statements(usv(query))
        if not statements:
            raise D1Error("D1_EXEC_ERROR: Error in line 1: : No SQL statements detected.")

        def run(conn: sqlite3.Connection) -> int:
            for line, sql in enumerate(statements, start=1):
                try:
                    conn.execute(sql).fetchall()
                except (sqlite3.Error, ValueError) as exc:
                    where = f"D1_EXEC_ERROR: Error in line {line}: {sql.strip()}"
                    raise failure(conn, exc, where, code=False) from exc
            return len(statements)

        started = time.perf_counter()
        count = await self._db.run(run)
        return AttrDict(count=count, duration=(time.perf_counter() - started) * 1000)

    async def dump(self) -> bytes:
        """The whole database file's bytes (deprecated on D1, kept for old code)."""
        def serialize(conn: sqlite3.Connection) -> bytes:
            with trusted(conn):
                return conn.serialize()

        return await self._db.run(serialize)

    def withSession(self, constraint: str | None = None) -> D1Database:
        """Sessions (read replication) are meaningless with one local copy: same database."""
        return self

    with_session = withSession

    def getBookmark(self) -> None:
        return None


class PreparedStatement:
    """A query and its bound values; `bind()` returns a new statement, as on D1."""

    def __init__(self, database: D1Database, query: str, params: tuple) -> None:
        self._database = database
        self.query = query
        self.params = params

    def bind(self, *values: Any) -> PreparedStatement:
        return PreparedStatement(self._database, self.query, tuple(_bind_value(v) for v in values))

    async def all(self) -> AttrDict:
        return _result(await self._run())

    async def run(self) -> AttrDict:
        return _result(await self._run())

    async def first(self, column: str | None = None, **options: Any) -> Any:
        """The first row as a dict (None when there is none), or one column's value."""
        column = column or options.get("colName") or options.get("column")
        if column is not None and not isinstance(column, str):
            raise D1Error(f"D1_TYPE_ERROR: first() takes a column name, got {column!r}")
        rows = _result(await self._run())["results"]
        if not rows:
            return None
        row = rows[0]
        if column is None:
            return AttrDict(row)
        if column not in row:
            raise D1Error(f"D1_COLUMN_NOTFOUND: Column not found: {column}")
        return row[column]

    async def raw(self, options: dict | None = None, **kwargs: Any) -> list[list[Any]]:
        """Rows as lists of values (JS arrays: `.to_py()` works on them, as django-cf's D1
        backend relies on); `columnNames=True` puts the column names first."""
        if options is not None and not isinstance(options, dict):
            raise D1Error(f"D1_TYPE_ERROR: raw() takes {{columnNames: bool}}, got {options!r}")
        opts = {**(options or {}), **kwargs}
        names = bool(opts.get("columnNames", opts.get("column_names", False)))
        result = await self._run()
        rows = [list(row) for row in result["raw"]]
        return wrap([result["columns"], *rows] if names else rows)

    async def _run(self) -> dict[str, Any]:
        return await self._database._db.run(lambda conn: _execute(conn, self.query, self.params))


def build(spec: BindingSpec, host: BindingHost) -> D1Database:
    """`env.<binding>`: `database_id` (else `database_name`, else the binding name)."""
    options = spec.options
    database_id = options.get("database_id") or options.get("database_name") or spec.name
    binding_path(host, spec, "v3", "d1", database_id)  # the id alone must be a plain name
    path = binding_path(host, spec, "v3", "d1", f"{database_id}.sqlite")
    db = shared_db(host, f"d1:{path}", path, "", factory=GuardedConnection,
                   setup=GuardedConnection.guard)  # fmt: skip
    return D1Database(db, database_id)


KIND = BindingKind(
    "d1_databases",
    "D1 Database",
    fields={
        "database_id": Field(),
        "database_name": Field(),
        "preview_database_id": Field(),
        "migrations_dir": Field(),
        "migrations_table": Field(),
    },
    value_keys=("database_name", "database_id"),
    build=build,
    describe=D1Database.describe,
)


# ---- execution (on the database thread) -------------------------------------------------


def _execute(conn: sqlite3.Connection, query: str, params: Sequence[Any]) -> dict[str, Any]:
    started = time.perf_counter()
    before = conn.total_changes
    try:
        cursor = conn.execute(query, params)
        rows = cursor.fetchall()
    except sqlite3.ProgrammingError as exc:
        if "bindings" in str(exc):
            raise D1Error(
                f"D1_ERROR: Wrong number of parameter bindings for SQL query. ({exc})"
            ) from exc
        raise D1Error(f"D1_ERROR: {exc}: SQLITE_ERROR") from exc
    except (sqlite3.Error, ValueError) as exc:  # ValueError: a NUL in the SQL text
        raise failure(conn, exc) from exc
    columns = [d[0] for d in cursor.description or ()]
    raw = [tuple(_out_value(v) for v in row) for row in rows]
    changes = conn.total_changes - before
    with trusted(conn):
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    meta = {
        "served_by": "edge.db",
        "duration": (time.perf_counter() - started) * 1000,
        "changes": changes,
        "last_row_id": cursor.lastrowid or 0,
        "changed_db": changes > 0,
        "size_after": page_count * page_size,
        "rows_read": len(rows),
        "rows_written": changes,
    }
    return {"columns": columns, "raw": raw, "meta": meta}


def failure(
    conn: sqlite3.Connection,
    exc: sqlite3.Error | ValueError,
    where: str = "D1_ERROR",
    *,
    code: bool = True,
) -> D1Error:
    """`<where>: <SQLite's message>[: <primary result code>]`, as D1 words a failed
    statement; one the authorizer refused reads `not authorized` and says why in a note."""
    refused = getattr(exc, "sqlite_errorname", None) == "SQLITE_AUTH"
    name = "SQLITE_AUTH" if refused else "SQLITE_ERROR"
    if isinstance(exc, sqlite3.IntegrityError):
        name = "SQLITE_CONSTRAINT"
    message = f"{where}: {'not authorized' if refused else exc}" + (f": {name}" if code else "")
    error = D1Error(message)
    if refused and hasattr(conn, "explain"):
        conn.explain(error)
    return error


def _result(executed: dict[str, Any]) -> AttrDict:
    columns = executed["columns"]
    results = [dict(zip(columns, row, strict=True)) for row in executed["raw"]]
    return AttrDict(success=True, meta=executed["meta"], results=results)


def _bind_value(value: Any) -> Any:
    if isinstance(value, str):
        return usv(value)
    if value is None or isinstance(value, float):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise D1Error(f"D1_TYPE_ERROR: Integer {value} does not fit in 64 bits")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise D1Error(
        f"D1_TYPE_ERROR: Type '{type(value).__name__}' not supported for value '{value!r}'"
    )


def _out_value(value: Any) -> Any:
    return list(value) if isinstance(value, bytes) else value


def split_statements(sql: str) -> list[str]:
    """Split a script into complete SQL statements (semicolons inside strings, comments
    and trigger bodies do not split)."""
    if "\0" in sql:
        raise D1Error("D1_ERROR: embedded null character in the SQL: SQLITE_ERROR")
    statements, buffer = [], ""
    for part in sql.split(";"):
        buffer += part + ";"
        if sqlite3.complete_statement(buffer):
            if _has_sql(buffer):
                statements.append(buffer.strip())
            buffer = ""
    if _has_sql(buffer):
        statements.append(buffer.rstrip(";").strip())
    return statements


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def _has_sql(text: str) -> bool:
    """False for text that is only whitespace, semicolons and comments."""
    return bool(_COMMENTS.sub("", text).strip(" \t\r\n;"))
