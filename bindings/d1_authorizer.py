"""What D1 refuses, refused the way D1 does: SQLite's authorizer on every D1 connection.

D1 runs on workerd's SQLite, whose authorizer (workerd `src/workerd/util/sqlite.c++`,
`SqliteDatabase::isAuthorized`) denies, for code a user wrote:

- any database but `main`: `ATTACH` / `DETACH`, and `VACUUM` / `VACUUM INTO` (both attach
  their target), so a query can never create, read or write another file;
- temporary tables, views, indexes and triggers;
- `BEGIN` / `COMMIT` / `ROLLBACK` / `SAVEPOINT` / `RELEASE` (D1's answer is `batch()`);
- PRAGMAs outside the list D1 documents (https://developers.cloudflare.com/d1/sql-api/
  sql-statements/, "PRAGMA statements") plus workerd's `data_version`; the boolean ones
  only with a boolean value, the ones naming a table only on a table D1 lets you see;
- names starting `_cf_` (any case), which D1 reserves (its `_cf_KV` table);
- virtual tables other than FTS5.

A denial makes SQLite fail with `SQLITE_AUTH`; `bindings.d1` reports it as D1 does,
`D1_ERROR: not authorized: SQLITE_AUTH`, and `explain` adds a note saying what was
refused and why. Choices: SQL functions are not restricted (workerd allows a list; edge
allows them all rather than break queries with newer built-ins), and the SQLite limits
workerd lowers (expression depth, columns, ...) are left at SQLite's defaults.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections.abc import Iterator
from typing import Any

_BOOLEAN = {"true", "false", "yes", "no", "on", "off", "1", "0"}

#: pragma -> how its argument is checked: "none" (no argument), "boolean" (none, or a
#: boolean), "name" (a table or index D1 lets you see), "name?" (none, or such a name),
#: "any" (whatever SQLite accepts).
PRAGMAS = {
    "table_list": "any",
    "table_info": "name",
    "table_xinfo": "name",
    "index_list": "name",
    "index_info": "name",
    "index_xinfo": "name",
    "foreign_key_list": "name",
    "foreign_key_check": "name?",
    "quick_check": "any",
    "optimize": "any",
    "data_version": "none",
    "case_sensitive_like": "boolean",
    "foreign_keys": "boolean",
    "defer_foreign_keys": "boolean",
    "ignore_check_constraints": "boolean",
    "legacy_alter_table": "boolean",
    "recursive_triggers": "boolean",
    "reverse_unordered_selects": "boolean",
}

_A = sqlite3
#: actions whose first argument is the name of a table, view, index or trigger.
_NAMED_FIRST = {_A.SQLITE_CREATE_TABLE, _A.SQLITE_DELETE, _A.SQLITE_DROP_TABLE, _A.SQLITE_INSERT,
                _A.SQLITE_ANALYZE, _A.SQLITE_CREATE_VIEW, _A.SQLITE_DROP_VIEW, _A.SQLITE_REINDEX,
                _A.SQLITE_READ, _A.SQLITE_UPDATE}  # fmt: skip
#: actions naming an index or trigger first and its table second.
_NAMED_BOTH = {_A.SQLITE_CREATE_INDEX, _A.SQLITE_DROP_INDEX, _A.SQLITE_CREATE_TRIGGER,
               _A.SQLITE_DROP_TRIGGER}  # fmt: skip
_TEMP = {_A.SQLITE_CREATE_TEMP_TABLE, _A.SQLITE_DROP_TEMP_TABLE, _A.SQLITE_CREATE_TEMP_INDEX,
         _A.SQLITE_DROP_TEMP_INDEX, _A.SQLITE_CREATE_TEMP_TRIGGER, _A.SQLITE_DROP_TEMP_TRIGGER,
         _A.SQLITE_CREATE_TEMP_VIEW, _A.SQLITE_DROP_TEMP_VIEW}  # fmt: skip


class GuardedConnection(sqlite3.Connection):
    """A D1 database connection: user SQL passes D1's authorizer; our own statements
    (transactions around `batch()`, the size in `meta`) run inside `trusted()`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trust = 0
        # SQLite authorizes a statement when it is prepared, and sqlite3 caches prepared
        # statements by their text: our trusted ones carry this token, so a user's
        # identical text ("BEGIN IMMEDIATE") never reuses one.
        self._token = f" -- edge trusted {secrets.token_hex(8)}"
        self.refused: str | None = None

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        return super().execute(sql + self._token if self._trust else sql, *args)

    @contextlib.contextmanager
    def trusted(self) -> Iterator[None]:
        self._trust += 1
        try:
            yield
        finally:
            self._trust -= 1

    def guard(self) -> None:
        """Install the authorizer (the `setup` hook of the database's `SqliteFile`)."""
        self.set_authorizer(self._authorize)

    def explain(self, error: BaseException) -> None:
        """Add a note to a D1 error saying what the authorizer refused."""
        if self.refused is not None:
            error.add_note(f"edge: {self.refused}")
            self.refused = None

    def _authorize(self, action: int, arg1: str | None, arg2: str | None,
                   database: str | None, _trigger: str | None) -> int:  # fmt: skip
        if self._trust:
            return sqlite3.SQLITE_OK
        why = refusal(action, arg1, arg2, database)
        if why is None:
            return sqlite3.SQLITE_OK
        self.refused = why
        return sqlite3.SQLITE_DENY


def refusal(action: int, arg1: str | None, arg2: str | None, database: str | None) -> str | None:
    """Why D1 refuses this authorizer request, or None when it allows it."""
    if action == _A.SQLITE_ALTER_TABLE:  # (database, table); DROP COLUMN puts the column last
        database = arg1
    if action in (_A.SQLITE_ATTACH, _A.SQLITE_DETACH) or database not in (None, "main", "temp"):
        return ("D1 has one database: ATTACH, DETACH and VACUUM (which attaches its target)"
                " are not authorized")  # fmt: skip
    # (ALTER TABLE ... RENAME reads and rewrites the temp schema itself: allowed there)
    if action in _TEMP or (database == "temp" and action not in (_A.SQLITE_READ,
                                                                 _A.SQLITE_UPDATE)):
        return "D1 has no temporary tables, views, indexes or triggers"
    if action in (_A.SQLITE_TRANSACTION, _A.SQLITE_SAVEPOINT):
        statement = " ".join(part for part in (arg1, arg2) if part)
        return (f"D1 refuses SQL transactions ({statement}); use env.DB.batch([...]), which"
                " runs its statements in one transaction")  # fmt: skip
    if action == _A.SQLITE_PRAGMA:
        return _pragma_refusal(arg1 or "", arg2)
    if action in (_A.SQLITE_CREATE_VTABLE, _A.SQLITE_DROP_VTABLE) and (arg2 or "") != "fts5":
        return f"D1 supports no virtual table module but fts5 (got {arg2})"
    names = [arg1] if action in _NAMED_FIRST else [arg1, arg2] if action in _NAMED_BOTH else []
    if action == _A.SQLITE_ALTER_TABLE:
        names = [arg2]
    for name in names:
        if _reserved(name):
            return f"names starting with _cf_ are reserved by D1 ({name})"
    return None


def _pragma_refusal(pragma: str, argument: str | None) -> str | None:
    kind = PRAGMAS.get(pragma.lower())
    if kind is None:
        return f"D1 does not allow PRAGMA {pragma}"
    value = None if argument is None else argument.strip().strip("'\"")
    if kind == "none" and value is not None:
        return f"PRAGMA {pragma} takes no value on D1"
    if kind == "boolean" and value is not None and value.lower() not in _BOOLEAN:
        return f"PRAGMA {pragma} takes on/off, true/false, yes/no or 1/0 on D1 (got {argument})"
    if kind == "name" and value is None:
        return f"PRAGMA {pragma} needs a table or index name"
    if kind.startswith("name") and _reserved(value):
        return f"names starting with _cf_ are reserved by D1 ({value})"
    return None


def _reserved(name: str | None) -> bool:
    return name is not None and name[:4].lower() == "_cf_"
