"""KV / D1 / R2 binding throughput on this machine, against raw sqlite3 in the same run.

Prints operations per second for each binding call and for the equivalent direct
sqlite3 statement (the floor the bindings add their async hop and validation to), the
cost of one fsync on this disk (an R2 put makes about three: the blob, its folder, the
index commit; see docs/storage.md), plus the time `load_config` takes on
`wrangler.toml.example`. No asserts: figures only.

    .venv/bin/python bench/storage.py [N]
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bindings import d1, kv, r2
from bindings.registry import BindingHost
from emulator.config import BindingSpec, load_config


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} ops/s"


async def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    host = BindingHost(state_dir=tmp / "state")
    try:
        raw = sqlite3.connect(tmp / "raw.sqlite", isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")  # the bindings' setting
        raw.execute("CREATE TABLE e (key TEXT PRIMARY KEY, value BLOB)")
        t = time.perf_counter()
        for i in range(n):
            raw.execute("INSERT OR REPLACE INTO e VALUES (?, ?)", (f"k{i}", b"v" * 100))
        raw_put = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(n):
            raw.execute("SELECT value FROM e WHERE key = ?", (f"k{i}",)).fetchone()
        raw_get = time.perf_counter() - t
        raw.close()

        ns = kv.build(BindingSpec("kv_namespaces", "KV", {"id": "bench"}), host)
        t = time.perf_counter()
        for i in range(n):
            await ns.put(f"k{i}", "v" * 100)
        kv_put = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(n):
            await ns.get(f"k{i}")
        kv_get = time.perf_counter() - t
        t = time.perf_counter()
        await asyncio.gather(*(ns.get(f"k{i}") for i in range(n)))
        kv_get_concurrent = time.perf_counter() - t

        db = d1.build(BindingSpec("d1_databases", "DB", {"database_id": "bench"}), host)
        await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
        insert = db.prepare("INSERT INTO t (body) VALUES (?)")
        t = time.perf_counter()
        for i in range(n):
            await insert.bind(f"row {i}").run()
        d1_insert = time.perf_counter() - t
        select = db.prepare("SELECT * FROM t WHERE id = ?")
        t = time.perf_counter()
        for i in range(1, n + 1):
            await select.bind(i).first()
        d1_first = time.perf_counter() - t

        bucket = r2.build(BindingSpec("r2_buckets", "R2", {"bucket_name": "bench"}), host)
        m = max(1, n // 10)
        t = time.perf_counter()
        for i in range(m):
            with open(tmp / f"f{i}", "wb") as f:
                f.write(b"x" * 10_000)
                f.flush()
                os.fsync(f.fileno())
        fsync = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(m):
            await bucket.put(f"o{i}", b"x" * 10_000)
        r2_put = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(m):
            await (await bucket.get(f"o{i}")).arrayBuffer()
        r2_get = time.perf_counter() - t

        example = Path(__file__).resolve().parents[1] / "wrangler.toml.example"
        worker = tmp / "worker"
        (worker / "src").mkdir(parents=True)
        (worker / "src" / "entry.py").write_text("")
        shutil.copy(example, worker / "wrangler.toml")
        t = time.perf_counter()
        for _ in range(100):
            load_config(worker, env="staging")
        config_ms = (time.perf_counter() - t) * 10  # per load, in ms

        print(f"n = {n}")
        print(f"raw sqlite3 upsert     {rate(n, raw_put)}")
        print(f"KV put                 {rate(n, kv_put)}   ({raw_put / kv_put:.2f}x raw)")
        print(f"raw sqlite3 select     {rate(n, raw_get)}")
        print(f"KV get (sequential)    {rate(n, kv_get)}   ({raw_get / kv_get:.2f}x raw)")
        print(f"KV get (concurrent)    {rate(n, kv_get_concurrent)}")
        print(f"D1 insert .run()       {rate(n, d1_insert)}")
        print(f"D1 select .first()     {rate(n, d1_first)}")
        print(f"write+fsync 10 kB file {rate(m, fsync)}")
        print(f"R2 put 10 kB           {rate(m, r2_put)}   ({r2_put / fsync:.1f} fsyncs' time)")
        print(f"R2 get 10 kB           {rate(m, r2_get)}")
        print(f"load_config (example, --env staging): {config_ms:.2f} ms")
    finally:
        await host.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
