"""The shared SQLite helper, and a real worker using KV, D1 and R2 through `env`."""

from __future__ import annotations

import os
import sqlite3
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bindings.registry import BindingHost, build_env
from bindings.storage import (
    SqliteFile,
    StatePathError,
    binding_path,
    state_path,
    transaction,
    usv,
)
from emulator.config import BindingSpec, load_config


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


def test_usv_replaces_lone_surrogates_as_workerd_does():
    assert usv("plain é") == "plain é"
    assert usv("a\ud800b") == "a\ufffdb"
    assert usv("\ud83d\ude00") == "\U0001f600"  # a surrogate pair is one character


async def test_keys_with_lone_surrogates_are_stored_as_workerd_would(host):
    from bindings import kv, r2

    ns = kv.build(BindingSpec("kv_namespaces", "KV", {"id": "ns"}), host)
    await ns.put("k\ud800", "v\udfff")
    assert await ns.get("k\ufffd") == "v\ufffd"
    bucket = r2.build(BindingSpec("r2_buckets", "R2", {"bucket_name": "b"}), host)
    await bucket.put("o\ud800", "x")
    assert (await bucket.head("o\ufffd")).key == "o\ufffd"


def test_state_path_joins_plain_names(tmp_path):
    assert state_path(tmp_path, "v3", "kv", "my ns:1", "kv.sqlite") == (
        tmp_path / "v3" / "kv" / "my ns:1" / "kv.sqlite"
    )
    assert state_path(tmp_path / "not-yet", "a..b", ".hidden", "é" * 127) == (
        tmp_path / "not-yet" / "a..b" / ".hidden" / ("é" * 127)
    )


@pytest.mark.parametrize(
    ("part", "why"),
    [
        ("..", "not a file name"),
        (".", "not a file name"),
        ("", "not a file name"),
        ("/etc", "'/'"),
        ("../../etc", "'/'"),
        ("a/b", "'/'"),
        ("..\\x", "a '\\'"),
        ("a\0b", "NUL"),
        ("x" * 256, "256 bytes"),
        ("\ud800", "not valid Unicode"),
        (7, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_state_path_refuses_and_names_the_value(tmp_path, part, why):
    with pytest.raises(StatePathError, match="refusing path part") as caught:
        state_path(tmp_path, "v3", part)
    assert why in str(caught.value)
    assert repr(part)[:20] in str(caught.value)


def test_state_path_refuses_symlinks_leading_out(tmp_path):
    root, outside = tmp_path / "state", tmp_path / "outside"
    (root / "v3").mkdir(parents=True)
    outside.mkdir()
    (root / "v3" / "escape").symlink_to(outside)
    (root / "v3" / "inside").symlink_to(root / "v3")
    with pytest.raises(StatePathError, match="symlink"):
        state_path(root, "v3", "escape", "kv.sqlite")
    assert state_path(root, "v3", "inside", "x") == root / "v3" / "inside" / "x"
    # a root that is itself a symlink is the user's choice, not an escape
    (tmp_path / "link").symlink_to(root)
    assert state_path(tmp_path / "link", "v3") == tmp_path / "link" / "v3"


def test_binding_path_names_the_binding(tmp_path):
    host = BindingHost(state_dir=tmp_path)
    spec = BindingSpec("r2_buckets", "FILES", {"bucket_name": "../x"})
    with pytest.raises(StatePathError, match=r"r2_buckets FILES: refusing path part '\.\./x'"):
        binding_path(host, spec, "v3", "r2", "../x")


@pytest.mark.parametrize(
    ("kind", "module", "key"),
    [("kv_namespaces", "bindings.kv", "id"), ("d1_databases", "bindings.d1", "database_id"),
     ("r2_buckets", "bindings.r2", "bucket_name")],
)
@pytest.mark.parametrize("name", ["../../outside", "/abs", "a\0b", ".."])
def test_bindings_refuse_names_that_leave_the_state_folder(tmp_path, kind, module, key, name):
    import importlib

    host = BindingHost(state_dir=tmp_path / "state")
    spec = BindingSpec(kind, "B", {"binding": "B", key: name})
    with pytest.raises(StatePathError, match=f"{kind} B: refusing path part"):
        importlib.import_module(module).build(spec, host)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing created anywhere


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.text(max_size=300), min_size=1, max_size=4))
def test_state_path_never_leaves_the_root(tmp_path_factory, parts):
    root = tmp_path_factory.getbasetemp() / "fuzz-root"
    try:
        path = state_path(root, *parts)
    except StatePathError:
        return
    resolved = os.path.realpath(path)
    assert resolved.startswith(os.path.realpath(root) + os.sep)
    assert path.relative_to(root).parts == tuple(parts)


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
