"""R2's blobs through a crash: a write that dies before its commit leaves the acknowledged
object readable, the blob is on disk before the row names it, a replaced blob goes only
after the commit, and what a crash left behind is collected when the bucket next opens."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from bindings import r2
from bindings.r2_multipart import MIN_PART_SIZE
from bindings.registry import BindingHost
from bindings.storage import SqliteFile
from emulator.config import BindingSpec

SPEC = BindingSpec("r2_buckets", "FILES", {"bucket_name": "files"})


class Crash(Exception):
    """The process dying between a write's first step and its commit."""


class CrashingConnection:
    """Forwards to a real connection; once `armed`, its next COMMIT rolls back and raises
    `Crash`, which is what a kill -9 before the commit leaves on disk."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.armed = False

    def execute(self, sql, *args):
        if self.armed and sql.strip().upper() == "COMMIT":
            self.armed = False
            self._conn.execute("ROLLBACK")
            raise Crash
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


@pytest.fixture
def crashing(monkeypatch):
    """`crashing.arm()`: the next commit of any SqliteFile crashes."""
    wrapped: dict[int, CrashingConnection] = {}
    real = SqliteFile._connection

    def connection(self):
        conn = real(self)
        return wrapped.setdefault(id(conn), CrashingConnection(conn))

    monkeypatch.setattr(SqliteFile, "_connection", connection)

    class Control:
        def arm(self):
            for conn in wrapped.values():
                conn.armed = True

    return Control()


async def reopened(state: Path, use):
    """`use(bucket)` on a fresh host, as after a restart."""
    host = BindingHost(state_dir=state)
    try:
        return await use(r2.build(SPEC, host))
    finally:
        await host.close()


def blob_files(state: Path) -> list[str]:
    folder = state / "v3" / "r2" / "files" / "blobs"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


async def text_of(bucket, key):
    obj = await bucket.get(key)
    return None if obj is None else await obj.text()


async def test_an_overwrite_that_dies_before_commit_keeps_the_old_object(tmp_path, crashing):
    state = tmp_path / "state"
    host = BindingHost(state_dir=state)
    bucket = r2.build(SPEC, host)
    await bucket.put("k", "acknowledged")
    crashing.arm()
    with pytest.raises(Crash):
        await bucket.put("k", "in flight")
    assert await text_of(bucket, "k") == "acknowledged"
    crashing.arm()
    with pytest.raises(Crash):
        await bucket.delete("k")
    assert await text_of(bucket, "k") == "acknowledged"
    await host.close()
    assert len(blob_files(state)) == 2  # the acknowledged blob and the orphan of the crash

    assert await reopened(state, lambda b: text_of(b, "k")) == "acknowledged"
    assert len(blob_files(state)) == 1  # the orphan went when the bucket opened


async def test_a_multipart_complete_that_dies_keeps_the_old_object_and_the_upload(
    tmp_path, crashing
):
    state = tmp_path / "state"
    host = BindingHost(state_dir=state)
    bucket = r2.build(SPEC, host)
    await bucket.put("k", "acknowledged")
    upload = await bucket.createMultipartUpload("k")
    parts = [await upload.uploadPart(1, b"a" * MIN_PART_SIZE), await upload.uploadPart(2, b"b")]
    crashing.arm()
    with pytest.raises(Crash):
        await upload.complete(parts)
    assert await text_of(bucket, "k") == "acknowledged"
    await host.close()

    async def finish(bucket):
        obj = await bucket.resumeMultipartUpload("k", upload.uploadId).complete(parts)
        return obj.size, len(await (await bucket.get("k")).arrayBuffer())

    assert await reopened(state, finish) == (MIN_PART_SIZE + 1, MIN_PART_SIZE + 1)
    assert len(blob_files(state)) == 1


async def test_blob_is_durable_before_the_commit_and_unlinked_after(tmp_path, monkeypatch):
    host = BindingHost(state_dir=tmp_path / "state")
    bucket = r2.build(SPEC, host)
    await bucket.put("k", "one")
    events: list[str] = []
    real_fsync, real_unlink = os.fsync, Path.unlink

    def fsync(fd):
        events.append("fsync")
        real_fsync(fd)

    def unlink(path, **kwargs):
        events.append("unlink")
        real_unlink(path, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(Path, "unlink", unlink)
    await bucket._db.run(lambda conn: conn.set_trace_callback(
        lambda sql: events.append(sql) if sql in ("COMMIT", "ROLLBACK") else None))  # fmt: skip
    await bucket.put("k", "two")
    await host.close()
    # the blob's data, then its folder entry, are on disk before the row commits; the
    # replaced blob is unlinked only after
    assert events == ["fsync", "fsync", "COMMIT", "unlink"]


async def test_opening_collects_what_no_row_names(tmp_path):
    state = tmp_path / "state"
    await reopened(state, lambda b: b.put("kept", "data"))
    upload_id = await reopened(state, lambda b: _pending_upload(b))
    blobs = state / "v3" / "r2" / "files" / "blobs"
    (blobs / "0123orphan").write_bytes(b"a crash left me")
    (blobs / "abc.tmp").write_bytes(b"half written")
    (blobs / "parts" / "old-upload").mkdir(parents=True)  # the layout before multipart_parts
    (blobs / "parts" / "old-upload" / "1").write_bytes(b"p")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    (blobs / "link").symlink_to(outside)
    assert len(os.listdir(blobs)) == 6

    async def check(bucket):
        assert await text_of(bucket, "kept") == "data"
        part = await bucket.resumeMultipartUpload("big", upload_id).uploadPart(2, b"z")
        return part.partNumber

    assert await reopened(state, check) == 2
    assert len(blob_files(state)) == 3  # "kept", and the upload's two parts
    assert (outside / "precious").read_text() == "keep"  # a symlink is unlinked, not followed


async def _pending_upload(bucket) -> str:
    upload = await bucket.createMultipartUpload("big")
    await upload.uploadPart(1, b"x")
    return upload.uploadId
