"""A folder of immutable blobs (R2 objects and parts) indexed by an SQLite database.

The rule that keeps acknowledged data safe through a crash (kill -9 or power loss) at any
instant: a blob is written under a fresh name and fsynced BEFORE the row naming it
commits, and a replaced or deleted blob is unlinked only AFTER the row that stops naming
it commits. So the index always names complete blobs; the worst a crash leaves is a blob
no row names (an orphan), and `collect` removes those when the index next opens.

Blob names are ours (random hex), never user data; they still go through `state_path`,
so even a hand-edited index cannot point outside the folder. Writers and `collect` both
run inside a write transaction of the index (`BEGIN IMMEDIATE`), so a second process
(`edge r2 object put` beside `edge dev`) can never collect a blob another is still
writing.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, TypeVar

from bindings.storage import state_path, transaction

T = TypeVar("T")


class BlobFolder:
    """`<bucket>/blobs/<name>`: write once, read many, unlink after the index lets go."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return state_path(self.folder, name)

    def change(
        self,
        conn: sqlite3.Connection,
        fn: Callable[[sqlite3.Connection], tuple[T, Iterable[str]]],
    ) -> T:
        """Run `fn(conn) -> (result, names the index no longer references)` in one index
        transaction, then unlink those names: the order that survives a crash anywhere."""
        result, garbage = transaction(conn, fn)
        self.remove(garbage)
        return result

    def write(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store `chunks` durably under a fresh name: `(name, size)`. Call it inside the
        index transaction that records the name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        size = 0
        with open(self.path(name), "xb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        _fsync_dir(self.folder)  # the new directory entry is durable too
        return name, size

    def copy(self, names: Iterable[str]) -> tuple[str, int]:
        """One new blob holding the given blobs one after the other."""

        def chunks() -> Iterable[bytes]:
            for name in names:
                with open(self.path(name), "rb") as source:
                    while chunk := source.read(1024 * 1024):
                        yield chunk

        return self.write(chunks())

    def open(self, name: str) -> BinaryIO:
        return open(self.path(name), "rb")

    def remove(self, names: Iterable[str]) -> None:
        """Unlink blobs the index no longer names (after that change committed)."""
        for name in names:
            self.path(name).unlink(missing_ok=True)

    def collect(self, conn: sqlite3.Connection, referenced_sql: str) -> list[str]:
        """Remove every entry that no name `referenced_sql` selects (orphans of a crash,
        temp files, folders of an older layout), in one index write transaction; returns
        the names removed."""
        return transaction(conn, lambda conn: self._collect(
            {row[0] for row in conn.execute(referenced_sql)}))  # fmt: skip

    def _collect(self, referenced: set[str]) -> list[str]:
        if not self.folder.is_dir():
            return []
        removed = []
        for entry in os.scandir(self.folder):
            if entry.name in referenced:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed.append(entry.name)
        return removed


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory; its metadata is journaled anyway
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
