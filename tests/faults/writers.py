"""The writers of the kill -9 fault suite (`test_kill9.py`), and the child that runs them.

One row of `WRITERS` per kind of write a binding acknowledges. To cover another binding:
add its spec to `SPECS` (and any table it needs to `prepare`; a kind with a post-load
phase, as Durable Objects have, gets this module as its worker), then a row:
`write(env, key, value)` stores `value` under `key` (None deletes), `read(env, key)`
returns what is stored there (None when absent) and raises when it cannot be read whole.
Values are random bytes; `sizes` are the sizes a writer picks from (large ones stress the
blob paths).

Run as `python -m tests.faults.writers STATE_DIR SEED` (from the repository root), the
child writes forever, printing `begin <json>` before each call and `ack <seq>` once the
binding call returned, flushed, so the parent knows exactly what was acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bindings import registry
from bindings.contract import BindingSpec
from bindings.r2_multipart import MIN_PART_SIZE
from bindings.registry import BindingHost, build_binding
from emulator.config import WorkerConfig
from emulator.sdk import DurableObject

SPECS = [
    BindingSpec("kv_namespaces", "KV", {"binding": "KV", "id": "faults"}),
    BindingSpec("d1_databases", "DB", {"binding": "DB", "database_id": "faults"}),
    BindingSpec("r2_buckets", "BUCKET", {"binding": "BUCKET", "bucket_name": "faults"}),
    BindingSpec("durable_objects", "DO", {"name": "DO", "class_name": "FaultObject"}),
]
KEYS_PER_WRITER = 4  # few keys, so most writes overwrite an acknowledged value
KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Writer:
    write: Callable[[dict[str, Any], str, bytes | None], Awaitable[None]]
    read: Callable[[dict[str, Any], str], Awaitable[bytes | None]]
    sizes: tuple[int, ...]
    weight: int = 4  # how often the child picks it


# ---- KV ------------------------------------------------------------------------------


async def kv_write(env, key, value):
    await (env["KV"].put(key, value) if value is not None else env["KV"].delete(key))


async def kv_read(env, key):
    return await env["KV"].get(key, "arrayBuffer")


# ---- D1 ------------------------------------------------------------------------------


async def d1_write(env, key, value):
    db = env["DB"]
    if value is None:
        await db.prepare("DELETE FROM items WHERE k = ?").bind(key).run()
    else:
        await db.prepare("INSERT OR REPLACE INTO items VALUES (?, ?)").bind(key, value).run()


async def d1_read(env, key):
    row = await env["DB"].prepare("SELECT v FROM items WHERE k = ?").bind(key).first()
    return None if row is None else bytes(row["v"])


async def d1_batch_write(env, key, value):
    """Two rows in one batch: a torn batch would show as rows that differ."""
    db = env["DB"]
    keys = (key, f"{key}#mirror")
    if value is None:
        await db.batch([db.prepare("DELETE FROM items WHERE k = ?").bind(k) for k in keys])
    else:
        await db.batch([db.prepare("INSERT OR REPLACE INTO items VALUES (?, ?)").bind(k, value)
                        for k in keys])  # fmt: skip


async def d1_batch_read(env, key):
    first, mirror = await d1_read(env, key), await d1_read(env, f"{key}#mirror")
    if first != mirror:
        raise AssertionError(f"torn batch at {key!r}: the two rows differ")
    return first


# ---- R2 ------------------------------------------------------------------------------


async def r2_write(env, key, value):
    bucket = env["BUCKET"]
    await (bucket.put(key, value) if value is not None else bucket.delete(key))


async def r2_read(env, key):
    obj = await env["BUCKET"].get(key)
    if obj is None:
        return None
    data = await obj.arrayBuffer()
    multipart = "-" in obj.etag  # its etag is no MD5 of the body
    if len(data) != obj.size or (not multipart and hashlib.md5(data).hexdigest() != obj.etag):
        raise AssertionError(f"{key!r}: body does not match its size/etag")
    return data


async def r2_multipart_write(env, key, value):
    """A two-part upload: a 5 MiB part derived from `value`, then `value` itself."""
    if value is None:
        return await env["BUCKET"].delete(key)
    upload = await env["BUCKET"].createMultipartUpload(key)
    first = await upload.uploadPart(1, _padding(value))
    second = await upload.uploadPart(2, value)
    await upload.complete([first, second])


async def r2_multipart_read(env, key):
    data = await r2_read(env, key)
    if data is None:
        return None
    value = data[MIN_PART_SIZE:]
    if data[:MIN_PART_SIZE] != _padding(value):
        raise AssertionError(f"{key!r}: the first part is not the one uploaded with the second")
    return value


def _padding(value: bytes) -> bytes:
    return hashlib.sha256(value).digest() * (MIN_PART_SIZE // 32)


# ---- Durable Objects -------------------------------------------------------------------


class FaultObject(DurableObject):
    """One object per key; a write is acknowledged when its RPC call returns, which the
    output gate holds until the write is committed."""

    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, v BLOB)")

    async def put(self, value):
        await (self.ctx.storage.put("v", value) if value is not None
               else self.ctx.storage.delete("v"))  # fmt: skip

    async def get(self):
        return await self.ctx.storage.get("v")

    def put_row(self, value):
        # a SQL row and a KV mirror with no await between: one implicit transaction
        self.ctx.storage.sql.exec("DELETE FROM item")
        if value is None:
            self.ctx.storage.delete("mirror")
        else:
            self.ctx.storage.sql.exec("INSERT INTO item (id, v) VALUES (1, ?)", value)
            self.ctx.storage.put("mirror", value)

    def get_row(self):
        rows = self.ctx.storage.sql.exec("SELECT v FROM item").toArray()
        row = rows[0]["v"] if rows else None
        if row != self.ctx.storage.kv.get("mirror"):
            raise AssertionError("torn write: the SQL row and its KV mirror differ")
        return row


async def do_write(env, key, value):
    await env["DO"].getByName(key).put(value)


async def do_read(env, key):
    return await env["DO"].getByName(key).get()


async def do_sql_write(env, key, value):
    await env["DO"].getByName(key).put_row(value)


async def do_sql_read(env, key):
    return await env["DO"].getByName(key).get_row()


WRITERS: dict[str, Writer] = {
    "kv": Writer(kv_write, kv_read, (10, 2 * KIB)),
    "kv_large": Writer(kv_write, kv_read, (1 * MIB,), weight=1),
    "d1": Writer(d1_write, d1_read, (10, 64 * KIB)),
    "d1_batch": Writer(d1_batch_write, d1_batch_read, (100,)),
    "r2": Writer(r2_write, r2_read, (0, 10, 4 * KIB)),
    "r2_large": Writer(r2_write, r2_read, (2 * MIB,), weight=1),
    "r2_multipart": Writer(r2_multipart_write, r2_multipart_read, (10,), weight=1),
    "do": Writer(do_write, do_read, (10, 2 * KIB)),
    "do_large": Writer(do_write, do_read, (1 * MIB,), weight=1),
    "do_sql": Writer(do_sql_write, do_sql_read, (10, 64 * KIB)),
}


async def prepare(env: dict[str, Any]) -> None:
    """What the writers need before the first write (idempotent)."""
    await env["DB"].exec("CREATE TABLE IF NOT EXISTS items (k TEXT PRIMARY KEY, v BLOB)")


@asynccontextmanager
async def opened(state_dir: Path) -> AsyncIterator[dict[str, Any]]:
    """The bindings of `SPECS` on `state_dir`, as a worker's env; closed afterwards."""
    host = BindingHost(state_dir=state_dir)
    try:
        env = {spec.name: build_binding(spec, host) for spec in SPECS}
        worker = _ThisModule(env)
        for spec in SPECS:
            kind = registry.get(spec.kind)
            if kind is not None and kind.after_load is not None:
                kind.after_load(spec, env[spec.name], worker, host)
        await prepare(env)
        yield env
    finally:
        await host.close()


class _ThisModule:
    """This module as the worker a post-load phase sees (it defines `FaultObject`)."""

    def __init__(self, env: dict[str, Any]) -> None:
        self.main = Path(__file__)
        self.module = sys.modules[__name__]
        self.env = env
        self.config = WorkerConfig(
            file=self.main, root=self.main.parent, name="faults", main=self.main,
            raw={"migrations": [{"tag": "v1", "new_sqlite_classes": ["FaultObject"]}]},
        )  # fmt: skip


def digest(value: bytes | None) -> str | None:
    return None if value is None else hashlib.sha256(value).hexdigest()


async def run_child(state_dir: Path, seed: int) -> None:
    rng = random.Random(seed)
    names = list(WRITERS)
    weights = [WRITERS[name].weight for name in names]
    async with opened(state_dir) as env:
        _say("ready")
        seq = 0
        while True:
            name = rng.choices(names, weights)[0]
            writer = WRITERS[name]
            key = f"{name}-{rng.randrange(KEYS_PER_WRITER)}"
            value = None if rng.random() < 0.1 else rng.randbytes(rng.choice(writer.sizes))
            seq += 1
            _say("begin " + json.dumps({"seq": seq, "writer": name, "key": key,
                                         "digest": digest(value)}))  # fmt: skip
            await writer.write(env, key, value)
            _say(f"ack {seq}")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(run_child(Path(sys.argv[1]), int(sys.argv[2])))
