"""The shared SQLite helper, and a real worker using KV, D1 and R2 through `env`."""

from __future__ import annotations

import sqlite3
import textwrap

import pytest

from bindings.registry import BindingHost, build_env
from bindings.storage import SqliteFile, safe_name, transaction
from emulator.config import load_config


async def test_sqlite_file_runs_off_the_loop_and_rolls_back(tmp_path):
    db = SqliteFile(tmp_path / "sub" / "x.sqlite", "CREATE TABLE IF NOT EXISTS t (v);")
    try:
        await db.run(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))

        def failing(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await db.run(lambda conn: transaction(conn, failing))
        assert db.call(lambda conn: conn.execute("SELECT v FROM t").fetchall()) == [(1,)]
        with pytest.raises(sqlite3.OperationalError):
            await db.run(lambda conn: conn.execute("SELECT nope FROM t"))
    finally:
        db.close()
        db.close()  # idempotent
    assert (tmp_path / "sub" / "x.sqlite").is_file()


@pytest.mark.parametrize(
    ("name", "expected"), [("abc-1_2", "abc-1_2"), ("../etc", "_etc"), ("a/b", "a_b"), ("", "_")]
)
def test_safe_name_stays_one_path_component(name, expected):
    assert safe_name(name) == expected


WORKER = """
import json
from workers import WorkerEntrypoint, Response


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        env = self.env
        await env.CACHE.put("visits", "1", metadata={"by": "test"})
        await env.DB.exec("CREATE TABLE IF NOT EXISTS notes (body TEXT)")
        await env.DB.prepare("INSERT INTO notes (body) VALUES (?)").bind("hi").run()
        notes = await env.DB.prepare("SELECT body FROM notes").all()
        await env.FILES.put("a.txt", "file body", httpMetadata={"contentType": "text/plain"})
        obj = await env.FILES.get("a.txt")
        listed = await env.CACHE.list()
        return Response.json({
            "kv": await env.CACHE.get("visits"),
            "keys": [k.name for k in listed.keys],
            "d1": notes.results,
            "r2": await obj.text(),
            "type": obj.httpMetadata.contentType,
        })
"""


async def test_worker_uses_kv_d1_r2(tmp_path):
    pytest.importorskip("emulator.worker")
    from emulator.context import ExecutionContext
    from emulator.sdk import Request
    from emulator.worker import load_worker

    (tmp_path / "entry.py").write_text(textwrap.dedent(WORKER))
    (tmp_path / "wrangler.toml").write_text(
        'name = "storage"\nmain = "entry.py"\ncompatibility_flags = ["python_workers"]\n'
        '[[kv_namespaces]]\nbinding = "CACHE"\nid = "kv1"\n'
        '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "db"\ndatabase_id = "d1"\n'
        '[[r2_buckets]]\nbinding = "FILES"\nbucket_name = "files"\n'
    )
    config = load_config(tmp_path)
    host = BindingHost(state_dir=tmp_path / ".wrangler" / "state")
    try:
        worker = load_worker(config, build_env(config, host))
        response = await worker.fetch(Request("http://localhost/"), ExecutionContext())
        assert response.status == 200
        assert await response.json() == {
            "kv": "1", "keys": ["visits"], "d1": [{"body": "hi"}], "r2": "file body",
            "type": "text/plain",
        }  # fmt: skip
    finally:
        await host.close()
    state = tmp_path / ".wrangler" / "state" / "v3"
    assert (state / "kv" / "kv1").is_dir() and (state / "d1" / "d1.sqlite").is_file()
    assert (state / "r2" / "files" / "index.sqlite").is_file()


COUNTER = """
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        count = int(await self.env.KV.get("count") or 0) + 1
        await self.env.KV.put("count", str(count))
        return Response(str(count))
"""


async def test_dev_server_keeps_state_across_reloads_and_restarts(tmp_path):
    import io

    import httpx

    from emulator.banner import make_console
    from emulator.dev import DevOptions, DevServer

    (tmp_path / "entry.py").write_text(textwrap.dedent(COUNTER))
    (tmp_path / "wrangler.toml").write_text(
        'name = "counter"\nmain = "entry.py"\ncompatibility_flags = ["python_workers"]\n'
        '[[kv_namespaces]]\nbinding = "KV"\nid = "counter-ns"\n'
        '[[queues.producers]]\nbinding = "JOBS"\nqueue = "jobs"\n'
    )

    async def session(**kwargs) -> tuple[list[str], str]:
        out = io.StringIO()
        options = DevOptions(path=tmp_path, port=0, api=False, interactive=False, reload=False,
                             **kwargs)  # fmt: skip
        server = DevServer(options, console=make_console(file=out, width=200))
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                bodies = [(await client.get("/")).text]
                assert await server.reload()
                bodies.append((await client.get("/")).text)
        finally:
            await server.aclose()
        return bodies, out.getvalue()

    bodies, output = await session()
    assert bodies == ["1", "2"]  # the namespace survives a hot reload
    assert "counter-ns" in output  # the banner row and its describe() line
    assert "JOBS" in output and "not emulated yet" in output  # pending kinds are reported
    bodies, _ = await session()
    assert bodies == ["3", "4"]  # and a restart: it is on disk
    assert (tmp_path / ".wrangler" / "state" / "v3" / "kv" / "counter-ns").is_dir()
    bodies, _ = await session(persist_to=tmp_path / "elsewhere")
    assert bodies == ["1", "2"]  # --persist-to starts from its own, empty state
    assert (tmp_path / "elsewhere" / "v3" / "kv" / "counter-ns" / "kv.sqlite").is_file()
