"""Cost of a Durable Object call and of its storage, against baselines in the same run.

Prints microseconds per operation: an RPC call through a stub (`await stub.add(1)`:
input gate, a task of its own, structured clone both ways, the commit of its writes)
against calling the same method on the instance directly; `ctx.storage.put`+`get` and
`sql.exec` against the same statements on a bare sqlite3 connection (WAL, NORMAL), each
committed per operation as the output gate does.
Run: .venv/bin/python bench/bench_durable_objects.py
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import textwrap
import time
from pathlib import Path

from emulator.testing import load_worker

N = 2_000
CODE = """
from workers import DurableObject, Response, WorkerEntrypoint

class Counter(DurableObject):
    async def add(self, n):
        value = (await self.ctx.storage.get("v") or 0) + n
        await self.ctx.storage.put("v", value)
        return value

    async def noop(self, payload):
        return payload

    async def sql(self, n):
        self.ctx.storage.sql.exec("INSERT INTO t VALUES (?)", n)

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("")
"""
CONFIG = """
name = "bench"
main = "entry.py"
compatibility_flags = ["python_workers"]
[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"
[[migrations]]
tag = "v1"
new_sqlite_classes = ["Counter"]
"""


async def per_op(make, n: int = N) -> float:
    await make()
    start = time.perf_counter()
    for _ in range(n):
        await make()
    return (time.perf_counter() - start) / n * 1e6


async def main() -> None:
    folder = Path(tempfile.mkdtemp())
    (folder / "entry.py").write_text(textwrap.dedent(CODE))
    (folder / "wrangler.toml").write_text(CONFIG)
    async with load_worker(folder) as worker:
        stub = worker.env.COUNTER.getByName("bench")
        await stub.noop(None)
        live = worker.env.COUNTER.objects.live(stub.id)
        instance, storage = live.instance, live.storage
        storage.sql.exec("CREATE TABLE t (v)")

        direct = await per_op(lambda: instance.noop({"a": [1, 2, 3]}))
        rpc = await per_op(lambda: stub.noop({"a": [1, 2, 3]}))
        rpc_write = await per_op(lambda: stub.add(1))

        async def put_get() -> None:
            storage.put("k", {"a": 1})
            await storage.get("k")
            storage.flush()

        async def sql_insert() -> None:
            storage.sql.exec("INSERT INTO t VALUES (?)", 1)
            storage.flush()

        kv = await per_op(put_get)
        sql = await per_op(sql_insert)

    db = sqlite3.connect(folder / "raw.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB)")
    db.execute("CREATE TABLE t (v)")

    async def raw_put_get() -> None:
        db.execute("BEGIN")
        db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (b"k", b"value"))
        db.execute("SELECT v FROM kv WHERE k = ?", (b"k",)).fetchone()
        db.execute("COMMIT")

    async def raw_insert() -> None:
        db.execute("BEGIN")
        db.execute("INSERT INTO t VALUES (?)", (1,))
        db.execute("COMMIT")

    raw_kv = await per_op(raw_put_get)
    raw_sql = await per_op(raw_insert)
    print(f"{'operation':<44}{'µs/op':>10}{'baseline':>10}{'ratio':>8}")
    for label, value, base in [
        ("RPC call (stub.noop) vs direct method call", rpc, direct),
        ("RPC call with a read+write (stub.add)", rpc_write, direct),
        ("storage put+get+commit vs raw sqlite3", kv, raw_kv),
        ("sql.exec INSERT+commit vs raw sqlite3", sql, raw_sql),
    ]:
        print(f"{label:<44}{value:>10.1f}{base:>10.1f}{value / base:>7.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
