"""`ctx.storage`: one SQLite file per object, used synchronously on the event loop.

Follows https://developers.cloudflare.com/durable-objects/api/sqlite-storage-api/ and
workerd `src/workerd/api/actor-state.c++`. As on a SQLite-backed object, every storage
call completes before it returns: the async methods return an already-resolved
awaitable, so `self.ctx.storage.put(k, v)` stores even without `await`, and a storage
call never lets another event in (the input gate, see `bindings.durable_objects.gate`).

Writes are coalesced as Cloudflare documents: the first write opens an implicit
transaction, committed when the event next yields to the event loop (an `await` that
really waits) or when the event ends, whichever is first; the event's result or
Response is only released after that commit (the output gate). So writes with no
intervening `await` are atomic, also across a kill -9.

KV-backed classes (`new_classes`) get the same file without the SQL API and with the
KV-backed limits (values <= 128 KiB). The KV data lives in the `_cf_KV` table and the
alarm in `_cf_METADATA`; both are hidden from `sql.exec` (names starting `_cf_`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bindings.durable_objects import clone, keyspace
from emulator.sdk.attrdict import wrap

__all__ = ["ObjectStorage", "Resolved", "StorageMap"]

log = logging.getLogger("edge.durable_objects")

MAX_KV_VALUE_SIZE = 128 * 1024  # KV-backed classes
MAX_ROW_SIZE = 2 * 1024 * 1024  # SQLite-backed: key and value together, and any SQL row
SCHEMA = """
CREATE TABLE IF NOT EXISTS _cf_KV (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _cf_METADATA (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""
NOT_SQL = "Durable Object is not backed by SQL."
_READ_OPTIONS = {"allowConcurrency", "noCache"}
_WRITE_OPTIONS = {"allowConcurrency", "allowUnconfirmed", "noCache"}
_LIST_OPTIONS = {*keyspace.RANGE_OPTIONS, *_READ_OPTIONS}


class Resolved:
    """An awaitable that is already done: awaiting it never suspends the caller."""

    __slots__ = ("value",)

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __await__(self) -> Iterator[Any]:
        return self.value
        yield  # a generator, so `await` works; never reached


class StorageMap(dict):
    """What `list()` and `get([...])` return (a JS `Map`): keys in UTF-8 byte order."""

    __slots__ = ()

    @property
    def size(self) -> int:
        return len(self)


class ObjectStorage:
    """The storage of one object; the async methods are those of `DurableObjectStorage`."""

    def __init__(
        self,
        path: Path,
        *,
        sql_enabled: bool = True,
        delete_all_deletes_alarm: bool = False,
        on_alarm: Callable[[int | None], None] = lambda ms: None,
        can_set_alarm: Callable[[], bool] = lambda: True,
    ) -> None:
        self.path = Path(path)
        self.sql_enabled = sql_enabled
        self._delete_all_deletes_alarm = delete_all_deletes_alarm
        self._on_alarm = on_alarm
        self._can_set_alarm = can_set_alarm
        self._db: sqlite3.Connection | None = None
        self._depth = 0  # open transaction() / transactionSync() savepoints
        self._commit_scheduled = False
        self._broken: BaseException | None = None
        self.trusted = True  # False while user SQL is prepared (the authorizer's switch)
        self.denied_transaction = False
        self.alarm_running = False  # an alarm() handler runs: getAlarm() answers None ...
        self.alarm_touched = False  # ... unless setAlarm()/deleteAlarm() ran since it started
        # transaction() runs its closure with the object's input gate closed (set by the state)
        self.block: Callable[[Callable[[], Any]], Any] | None = None
        self._sql: Any = None

    # --- the connection and the implicit transaction -------------------------------------

    @property
    def broken(self) -> BaseException | None:
        """Why the storage failed (a commit that did not go through), if it did."""
        return self._broken

    @property
    def db(self) -> sqlite3.Connection:
        if self._broken is not None:
            raise RuntimeError(f"Durable Object storage failed and was reset: {self._broken}")
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode never corrupts and keeps every commit across kill -9
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            from bindings.durable_objects.sql import SQL_LIMITS, authorizer

            for limit, value in SQL_LIMITS.items():
                db.setlimit(limit, value)
            db.set_authorizer(authorizer(self))
            self._db = db
        return self._db

    def begin(self) -> sqlite3.Connection:
        """The connection inside the implicit transaction (opened, and its commit
        scheduled, by the first write of a batch)."""
        db = self.db
        if not db.in_transaction:
            db.execute("BEGIN")
            self._schedule_commit()
        return db

    def _schedule_commit(self) -> None:
        if self._commit_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (the CLI): flush() commits
        self._commit_scheduled = True
        loop.call_soon(self._autocommit)

    def _autocommit(self) -> None:
        self._commit_scheduled = False
        try:
            self.flush()
        except Exception:
            log.exception("Durable Object storage commit failed (%s)", self.path.name)

    def flush(self) -> None:
        """Commit the implicit transaction (the output gate waits for this); a failed
        commit breaks the storage: the object is reset, as on Cloudflare."""
        db = self._db
        if db is None or self._depth or not db.in_transaction:
            return
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._broken = exc
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self._db is None:
            return
        try:
            if self._broken is None:
                self._depth = 0
                self.flush()
        finally:
            self._db.close()
            self._db = None

    # --- KV API ----------------------------------------------------------------------

    def get(self, keys: str | list[str], options: dict | None = None, **kwargs: Any) -> Resolved:
        """The value of a key (None when missing), or a `StorageMap` for a list of keys."""
        keyspace.options(options, kwargs, _READ_OPTIONS)
        if isinstance(keys, list | tuple):
            found = StorageMap()
            for key, raw in sorted(self._get_many(keys)):
                found[key.decode()] = _value(raw)
            return Resolved(found)
        raw = self._read(keyspace.key(keys))
        return Resolved(None if raw is None else _value(raw))

    def _get_many(self, keys: list[str] | tuple[str, ...]) -> list[tuple[bytes, bytes]]:
        encoded = keyspace.many(keys)
        rows = []
        for key in encoded:
            raw = self._read(key)
            if raw is not None:
                rows.append((key, raw))
        return rows

    def _read(self, key: bytes) -> bytes | None:
        row = self.db.execute("SELECT value FROM _cf_KV WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key_or_entries: Any, value: Any = None, options: dict | None = None,
            **kwargs: Any) -> Resolved:  # fmt: skip
        """`put(key, value)` or `put({key: value, ...})`; values are structured-cloned."""
        if isinstance(key_or_entries, dict):
            if value is not None and options is None and isinstance(value, dict):
                options, value = value, None  # put(entries, options)
            keyspace.options(options, kwargs, _WRITE_OPTIONS)
            keyspace.check_count(key_or_entries)
            rows = [self._row(k, v, many=True) for k, v in key_or_entries.items() if v is not None]
        else:
            keyspace.options(options, kwargs, _WRITE_OPTIONS)
            if value is None:  # Pyodide passes None as undefined
                raise TypeError("put() called with undefined value.")
            rows = [self._row(key_or_entries, value)]
        self.begin().executemany("INSERT OR REPLACE INTO _cf_KV (key, value) VALUES (?, ?)", rows)
        return Resolved()

    def _row(self, key: Any, value: Any, many: bool = False) -> tuple[bytes, bytes]:
        encoded = keyspace.key(key, many=many)
        data = clone.encode(clone.for_storage(value))
        if not self.sql_enabled and len(data) > MAX_KV_VALUE_SIZE:
            if many:
                raise ValueError(
                    f'Value for key "{key}" is above the limit of {MAX_KV_VALUE_SIZE} bytes.'
                )
            raise ValueError(f"Values cannot be larger than {MAX_KV_VALUE_SIZE} bytes.")
        if len(encoded) + len(data) > MAX_ROW_SIZE:
            raise ValueError("string or blob too big: SQLITE_TOOBIG")
        return encoded, data

    def delete(self, keys: str | list[str], options: dict | None = None,
               **kwargs: Any) -> Resolved:  # fmt: skip
        """Delete a key (True if it existed) or a list of keys (how many existed)."""
        keyspace.options(options, kwargs, _WRITE_OPTIONS)
        many = isinstance(keys, list | tuple)
        encoded = keyspace.many(keys) if many else [keyspace.key(keys)]
        db = self.begin()
        count = sum(db.execute("DELETE FROM _cf_KV WHERE key = ?", (k,)).rowcount for k in encoded)
        return Resolved(count if many else count > 0)

    def list(self, options: dict | None = None, **kwargs: Any) -> Resolved:
        """Keys and values in UTF-8 byte order; options `start`, `startAfter`, `end`,
        `prefix`, `reverse`, `limit`, as workerd clamps them."""
        opts = keyspace.options(options, kwargs, _LIST_OPTIONS)
        return Resolved(StorageMap((k.decode(), _value(v)) for k, v in self._list(opts)))

    def _list(self, opts: dict[str, Any]) -> list[tuple[bytes, bytes]]:
        bounds = keyspace.key_range(opts)
        if bounds is None:
            return []
        start, end = bounds
        sql = "SELECT key, value FROM _cf_KV WHERE key >= ?"
        params: list[Any] = [start]
        if end is not None:
            sql += " AND key < ?"
            params.append(end)
        sql += " ORDER BY key DESC" if opts.get("reverse") else " ORDER BY key"
        if opts.get("limit") is not None:
            sql += " LIMIT ?"
            params.append(opts["limit"])
        return self.db.execute(sql, params).fetchall()

    def deleteAll(self, options: dict | None = None, **kwargs: Any) -> Resolved:
        """Delete everything: keys and, on SQLite-backed objects, every SQL table; the
        alarm too from compatibility date 2026-02-24 (`delete_all_deletes_alarm`)."""
        keyspace.options(options, kwargs, _WRITE_OPTIONS)
        db = self.begin()
        db.execute("DELETE FROM _cf_KV")
        if self.sql_enabled:
            objects = db.execute(
                "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
                " AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND type IN ('table', 'view')"
            ).fetchall()
            for kind, name in objects:
                db.execute(f'DROP {kind.upper()} IF EXISTS "{name.replace(chr(34), chr(34) * 2)}"')
        if self._delete_all_deletes_alarm:
            self._set_alarm_row(None)
        return Resolved()

    delete_all = deleteAll

    # --- transactions ------------------------------------------------------------------

    def transactionSync(self, callback: Callable[[], Any]) -> Any:
        """Run `callback()` (which must not be async) in a transaction: rolled back if it
        raises. SQLite-backed objects only."""
        if not self.sql_enabled:
            raise RuntimeError(NOT_SQL)
        with self._savepoint("_cf_sync_savepoint_"):
            result = callback()
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise TypeError(
                    "transactionSync() callback returned an awaitable; its storage calls "
                    "must complete synchronously (use transaction() for async work)"
                )
            return result

    transaction_sync = transactionSync

    def transaction(self, closure: Callable[[Any], Any]) -> asyncio.Future[Any]:
        """Run `closure(txn)` (async or not) in a transaction, with no other event
        delivered meanwhile; it commits, or rolls back if it raises or calls
        `txn.rollback()`."""

        async def run() -> tuple[bool, Any]:
            # an exception is carried out as a value, so blockConcurrencyWhile does not
            # reset the object for it (as workerd's TxnResult does)
            try:
                with self._savepoint("_cf_txn_savepoint_") as txn:
                    result = closure(txn)
                    if inspect.isawaitable(result):
                        result = await result
                    return False, result
            except Exception as exc:
                return True, exc

        async def go() -> Any:
            failed, value = await (self.block(run) if self.block is not None else run())
            if failed:
                raise value
            return value

        return asyncio.ensure_future(go())

    @contextlib.contextmanager
    def _savepoint(self, prefix: str) -> Iterator[Any]:
        from bindings.durable_objects.views import Transaction

        db = self.begin()
        name = f"{prefix}{self._depth}"
        self._depth += 1
        txn = Transaction(self, name)
        db.execute(f"SAVEPOINT {name}")
        try:
            yield txn
        except BaseException:
            if not txn.done:
                db.execute(f"ROLLBACK TO {name}")
                db.execute(f"RELEASE {name}")
            raise
        else:
            if not txn.done:
                db.execute(f"RELEASE {name}")
        finally:
            txn.done = True
            self._depth -= 1
            if not self._depth:
                self._schedule_commit()

    def sync(self) -> Resolved:
        """Resolved once earlier writes are on disk."""
        self.flush()
        return Resolved()

    # --- alarms ------------------------------------------------------------------------

    def getAlarm(self, options: dict | None = None, **kwargs: Any) -> Resolved:
        """The alarm time in ms since the epoch, or None."""
        keyspace.options(options, kwargs, {"allowConcurrency"})
        if self.alarm_running and not self.alarm_touched:
            return Resolved(None)
        return Resolved(self.read_alarm())

    def read_alarm(self) -> int | None:
        row = self.db.execute("SELECT value FROM _cf_METADATA WHERE key = 'alarm'").fetchone()
        return None if row is None else int(row[0])

    def setAlarm(self, scheduled_time: Any, options: dict | None = None, **kwargs: Any) -> Resolved:
        """Set the one alarm: ms since the epoch (int or float) or a datetime; a time in
        the past runs it as soon as possible."""
        keyspace.options(options, kwargs, {"allowConcurrency", "allowUnconfirmed"})
        if hasattr(scheduled_time, "timestamp"):
            ms = scheduled_time.timestamp() * 1000
        elif isinstance(scheduled_time, int | float) and not isinstance(scheduled_time, bool):
            ms = scheduled_time
        else:
            raise TypeError(
                f"setAlarm() takes ms since the epoch or a datetime, got "
                f"{type(scheduled_time).__name__}"
            )
        if ms <= 0:
            raise TypeError("setAlarm() cannot be called with an alarm time <= 0")
        if not self._can_set_alarm():
            raise TypeError(
                "Your Durable Object class must have an alarm() handler in order to call "
                "setAlarm()"
            )
        self._set_alarm_row(max(int(ms), int(time.time() * 1000)))
        return Resolved()

    def deleteAlarm(self, options: dict | None = None, **kwargs: Any) -> Resolved:
        """Delete the alarm, if any (a running alarm() handler is not cancelled)."""
        keyspace.options(options, kwargs, {"allowConcurrency", "allowUnconfirmed"})
        self._set_alarm_row(None)
        return Resolved()

    def _set_alarm_row(self, ms: int | None) -> None:
        db = self.begin()
        if ms is None:
            db.execute("DELETE FROM _cf_METADATA WHERE key = 'alarm'")
        else:
            db.execute("INSERT OR REPLACE INTO _cf_METADATA VALUES ('alarm', ?)", (ms,))
        self.alarm_touched = True
        self._on_alarm(ms)

    get_alarm, set_alarm, delete_alarm = getAlarm, setAlarm, deleteAlarm

    # --- SQL and the synchronous KV API --------------------------------------------------

    @property
    def sql(self) -> Any:
        """The SQL API (`sql.exec(query, *bindings)`, `sql.databaseSize`)."""
        if not self.sql_enabled:
            raise RuntimeError(
                "SQL is not enabled for this Durable Object class. To enable it, change "
                "`new_classes` to `new_sqlite_classes` within the 'migrations' field in "
                "your wrangler.jsonc or wrangler.toml file. Note that this change cannot "
                "be made after the class is already deployed to production."
            )
        if self._sql is None:
            from bindings.durable_objects.sql import SqlStorage

            self._sql = SqlStorage(self)
        return self._sql

    @property
    def kv(self) -> Any:
        """The synchronous KV API of SQLite-backed objects (`ctx.storage.kv.get(key)`)."""
        if not self.sql_enabled:
            raise RuntimeError(NOT_SQL)
        from bindings.durable_objects.views import SyncKv

        return SyncKv(self)


def _value(raw: bytes) -> Any:
    return wrap(clone.decode(raw))
