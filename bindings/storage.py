"""Local persistence shared by the KV, D1 and R2 bindings: SQLite files off the event loop.

Each store lives under the emulator's state folder (`.wrangler/state` or `--persist-to`),
in a `v3/<kind>/...` layout like Miniflare's, so deleting that folder resets everything.
Every path built from user data goes through `state_path`, which proves it stays inside.
One worker thread per database file runs every query in order: `sqlite3` connections
belong to the thread that made them, and serialising writes avoids `database is locked`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from emulator.errors import EdgeError

T = TypeVar("T")


class SqliteFile:
    """One SQLite database used from async code; `await db.run(fn)` calls `fn(connection)`
    on the database's own thread and returns its result (exceptions propagate).

    `setup(conn)` runs once the connection is open and the schema applied (R2 collects
    orphan blobs there, D1 installs its authorizer); `factory` is the connection class.
    `durable=True` makes every commit survive a power cut (`synchronous=FULL`), for an
    index whose commits decide which other files may be deleted.
    """

    def __init__(
        self,
        path: Path,
        schema: str = "",
        *,
        setup: Callable[[sqlite3.Connection], None] | None = None,
        factory: type[sqlite3.Connection] = sqlite3.Connection,
        durable: bool = False,
    ) -> None:
        self.path = Path(path)
        self._schema = schema
        self._setup = setup
        self._factory = factory
        self._synchronous = "FULL" if durable else "NORMAL"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-sqlite")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit, transactions only where we open them.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   factory=self._factory)  # fmt: skip
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL never corrupts and survives kill -9; a power cut may drop the
            # last commits, the right trade for local dev state (FULL: an fsync per write).
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            if self._schema:
                conn.executescript(self._schema)
            if self._setup is not None:
                self._setup(conn)
            self._local.conn = conn
            self._connections.append(conn)
        return conn

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` synchronously on the database thread (for non-async callers)."""
        return self._executor.submit(lambda: fn(self._connection())).result()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._connection()))

    def close(self) -> None:
        """Close the connection and stop the thread; later calls do nothing."""
        if self._closed:
            return
        self._closed = True

        def _close() -> None:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
            self._local.conn = None

        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)


class StatePathError(EdgeError, ValueError):
    """A name from user data that cannot become a path under the state folder; the
    message names the offending value."""


#: The longest file name ext4, APFS, NTFS and tmpfs all accept, in bytes.
MAX_NAME_BYTES = 255


def state_path(root: Path, *parts: str) -> Path:
    """`root/part/part/...`, proven to stay inside `root`: THE way to turn user data into
    a path (bucket names, namespace and database ids, Durable Object ids, static asset
    paths, CLI arguments). Never join user data onto a path any other way.

    Each part is ONE file name; split a relative path yourself first, e.g.
    `state_path(assets_dir, *url_path.split("/"))` for a static asset. Raises
    `StatePathError`, naming the offending value, for: a non-string, "", "." or "..",
    a part holding "/" or "\\" (so no absolute part either), NUL, a part over 255 bytes
    of UTF-8, or a result that resolves outside `root` through a symlink. `root` itself is
    trusted (the user chose it: `--persist-to`, the worker's folder) and need not exist.
    """
    for part in parts:
        _check_name(part)
    # Plain names keep the path inside `root`; only a symlink among them can lead out,
    # so look at each existing component (one lstat) and resolve only symlinks.
    path = Path(root)
    exists = True
    for part in parts:
        path = path / part
        if exists:
            try:
                link = stat.S_ISLNK(os.lstat(path).st_mode)
            except OSError:  # missing (or under a file): nothing deeper exists either
                exists = link = False
            if link and not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root)):
                raise StatePathError(
                    f"refusing path {'/'.join(parts)!r}: the symlink {path} leads outside {root}"
                )
    return path


def binding_path(host: Any, spec: Any, *parts: str) -> Path:
    """`state_path(host.state_dir, *parts)` for a binding's files; the error also names
    the binding (`r2_buckets FILES: refusing path part ...`)."""
    try:
        return state_path(host.state_dir, *parts)
    except StatePathError as exc:
        raise StatePathError(f"{spec.kind} {spec.name}: {exc}") from None


def _check_name(part: object) -> None:
    if not isinstance(part, str):
        raise StatePathError(f"refusing path part {part!r}: a name must be a string")
    if part in ("", ".", ".."):
        raise StatePathError(f"refusing path part {part!r}: not a file name")
    for char, what in (("/", "a '/'"), ("\\", "a '\\'"), ("\0", "a NUL character")):
        if char in part:
            raise StatePathError(f"refusing path part {part!r}: it contains {what}")
    try:
        size = len(part.encode())
    except UnicodeEncodeError:  # a lone surrogate: no file system can store it
        raise StatePathError(f"refusing path part {part!r}: not valid Unicode") from None
    if size > MAX_NAME_BYTES:
        raise StatePathError(
            f"refusing path part {part[:40]!r}...: {size} bytes, over {MAX_NAME_BYTES}"
        )


def transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn(conn)` in one transaction: all of it commits, or none of it.

    Our own BEGIN/COMMIT/ROLLBACK run `trusted` (D1 refuses them from users)."""
    with trusted(conn):
        conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        with trusted(conn):
            conn.execute("ROLLBACK")
        raise
    with trusted(conn):
        conn.execute("COMMIT")
    return result


def trusted(conn: sqlite3.Connection) -> contextlib.AbstractContextManager[Any]:
    """The connection's `trusted()` context, for statements of our own on a connection
    whose authorizer guards user SQL (D1's); nothing on a plain connection."""
    return getattr(conn, "trusted", contextlib.nullcontext)()


def shared_db(host: Any, key: str, path: Path, schema: str, **options: Any) -> SqliteFile:
    """One `SqliteFile` per path for the whole dev session (kept across hot reloads);
    `options` go to `SqliteFile`."""
    return host.shared(key, lambda: SqliteFile(path, schema, **options))


def usv(text: str) -> str:
    """`text` as workerd hands it to a binding: a lone surrogate (which JavaScript strings
    allow and UTF-8 cannot hold) becomes U+FFFD, as V8's UTF-8 conversion does."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def encode_cursor(position: str) -> str:
    """A list cursor (KV, R2): the last key returned, opaque to the worker as on Cloudflare."""
    return base64.urlsafe_b64encode(position.encode()).decode()


def decode_cursor(cursor: Any) -> str | None:
    """The key a cursor from `encode_cursor` stands for: "" for none, None when malformed."""
    if not cursor:
        return ""
    try:
        return base64.b64decode(str(cursor).encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
