"""bindings.registry: adding a binding kind is one module and one table row. A toy kind
(`tests/bindings/toy_kind.py`) registered in the table is picked up by config parsing,
the banner, `env`, start-up, the request path (edge dev and the test harness alike),
the post-load phase, its side app and its close hook; nothing else names it."""

from __future__ import annotations

import io
import logging

import httpx
import pytest

from bindings import registry
from bindings.contract import BindingHost
from emulator.banner import make_console
from emulator.config import ConfigError, load_config
from emulator.dev import DevOptions, DevServer
from emulator.testing import load_worker
from tests.bindings import toy_kind

WORKER = """
from workers import Response, WorkerEntrypoint

TOY_SHELF = "top shelf"

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("worker: " + self.env.TOY.play())
"""

CONFIG = """
name = "toys"
main = "entry.py"
compatibility_flags = ["python_workers"]

[[toys]]
binding = "TOY"
colour = "{colour}"
"""


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setitem(registry.KINDS, "toys", "tests.bindings.toy_kind")
    toy_kind.EVENTS.clear()
    return toy_kind.EVENTS


def worker_folder(tmp_path, colour="red", extra=""):
    (tmp_path / "entry.py").write_text(WORKER)
    (tmp_path / "wrangler.toml").write_text(CONFIG.replace("{colour}", colour) + extra)
    return tmp_path


def test_the_table_row_is_the_whole_registration(toys, tmp_path):
    assert registry.get("toys") is toy_kind.KIND
    assert "toys" in registry.names()
    [spec] = load_config(worker_folder(tmp_path)).bindings
    assert (spec.kind, spec.name, spec.options["colour"]) == ("toys", "TOY", "red")


def test_unregistered_the_key_is_unknown(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        config = load_config(worker_folder(tmp_path, colour="teal"))
    assert config.bindings == [] and "unknown key 'toys'" in caplog.text


@pytest.mark.parametrize(
    ("colour", "extra", "expected"),
    [
        ("teal", "", "toys[0].colour: expected red, green or blue, got 'teal'"),
        ("red", "size = 'big'\n", "toys[0].size: expected a whole number, got 'big'"),
    ],
)
def test_its_fields_are_checked_with_file_and_key(toys, tmp_path, colour, extra, expected):
    with pytest.raises(ConfigError) as info:
        load_config(worker_folder(tmp_path, colour, extra))
    assert str(info.value).endswith(expected) and "wrangler.toml" in str(info.value)
    (tmp_path / "wrangler.toml").write_text('main = "entry.py"\n[[toys]]\nbinding = "T"\n')
    with pytest.raises(ConfigError, match=r"toys\[0\]\.colour: required"):
        load_config(tmp_path)


async def test_edge_dev_uses_every_hook(toys, tmp_path):
    worker_folder(tmp_path)
    out = io.StringIO()
    options = DevOptions(path=tmp_path, port=0, api_port=0, api_token="t", interactive=False,
                         reload=False)  # fmt: skip
    server = DevServer(options, console=make_console(file=out, width=200))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await client.get("/")).text == "worker: a red toy"  # env.TOY
            assert (await client.get("/toy")).text == "TOY says: a red toy"  # middleware
            side = await client.get(server.side_apps["toys"])
        assert side.text == "toy api (token t)"
        banner = out.getvalue()
        assert "env.TOY" in banner and "Toy Box" in banner and "red" in banner
        assert "plays as a red toy" in banner  # describe()
        assert f"Toy API on {server.side_apps['toys']}" in banner
        assert ("startup", "red") in toys and ("after_load", "top shelf") in toys

        (tmp_path / "wrangler.toml").write_text(CONFIG.replace("{colour}", "blue"))
        assert await server.reload() is True
        assert ("close", "red") in toys  # the reload retired the old value
        assert ("startup", "blue") in toys
    finally:
        await server.aclose()
    assert toys[-1] == ("close", "blue")


async def test_the_harness_runs_the_same_request_path(toys, tmp_path):
    async with load_worker(worker_folder(tmp_path, colour="green")) as worker:
        assert await (await worker.fetch("/toy")).text() == "TOY says: a green toy"
        assert await (await worker.fetch("/")).text() == "worker: a green toy"
    assert ("after_load", "top shelf") in toys and toys[-1] == ("close", "green")


def test_a_pending_kind_is_reported_once_never_dropped(tmp_path, caplog):
    (tmp_path / "entry.py").write_text(WORKER)
    (tmp_path / "wrangler.toml").write_text(
        'main = "entry.py"\n[[queues.producers]]\nbinding = "JOBS"\nqueue = "jobs"\n'
        '[version_metadata]\nbinding = "META"\n'
    )
    config = load_config(tmp_path)
    kinds = [(s.kind, s.name) for s in config.bindings]
    assert kinds == [("queues", "JOBS"), ("version_metadata", "META")]
    host = BindingHost(state_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="edge.bindings"):
        env = registry.build_env(config, host)
        registry.build_env(config, host)
    assert "JOBS" not in env
    assert caplog.text.count("binding JOBS (queues) is not emulated yet") == 1
    assert caplog.text.count("binding META (version_metadata) is not emulated yet") == 1
