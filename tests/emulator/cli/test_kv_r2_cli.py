"""`edge kv key ...` and `edge r2 object ...` on the state `edge dev` reads."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bindings import kv, r2
from bindings.registry import BindingHost
from emulator.cli import main
from emulator.config import load_config

CONFIG = """
name = "storecli"
main = "entry.py"
compatibility_flags = ["python_workers"]

[[kv_namespaces]]
binding = "CACHE"
id = "cache-id"

[[r2_buckets]]
binding = "FILES"
bucket_name = "files"
"""


@pytest.fixture
def root(tmp_path):
    (tmp_path / "entry.py").write_text("")
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    return tmp_path


def cli(*args, input=None):
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.output


def through_binding(root, name, use):
    """What a worker's binding `name` sees: `use(binding)` awaited on a fresh host."""
    import asyncio

    async def go():
        host = BindingHost(state_dir=root / ".wrangler" / "state")
        try:
            spec = next(s for s in load_config(root).bindings if s.name == name)
            module = kv if spec.kind == "kv_namespaces" else r2
            return await use(module.build(spec, host))
        finally:
            await host.close()

    return asyncio.run(go())


def test_kv_key_roundtrip_is_what_the_worker_sees(root):
    where = ["--cwd", str(root)]
    assert cli("kv", "key", "put", "greeting", "hello", "--binding", "CACHE", *where)[0] == 0
    (root / "blob.bin").write_bytes(b"\x00\x01")
    code, _ = cli("kv", "key", "put", "blob", "--path", str(root / "blob.bin"),
                  "--namespace-id", "cache-id", "--metadata", '{"v": 1}', *where)  # fmt: skip
    assert code == 0
    assert cli("kv", "key", "get", "greeting", "--binding", "CACHE", "--text", *where) == (
        0, "hello\n",
    )  # fmt: skip
    code, out = cli("kv", "key", "list", "--binding", "CACHE", *where)
    assert json.loads(out) == [{"name": "blob", "metadata": {"v": 1}}, {"name": "greeting"}]
    # the binding the worker gets reads the same data
    assert through_binding(root, "CACHE", lambda ns: ns.get("blob", "arrayBuffer")) == b"\x00\x01"
    assert cli("kv", "key", "delete", "greeting", "--binding", "CACHE", *where)[0] == 0
    code, out = cli("kv", "key", "get", "greeting", "--binding", "CACHE", *where)
    assert code == 1 and "Value not found" in out


def test_kv_errors(root):
    where = ["--cwd", str(root)]
    code, out = cli("kv", "key", "put", "k", "v", *where)
    assert code == 2 and "--binding" in out
    code, out = cli("kv", "key", "put", "k", "v", "--binding", "CACHE", "--ttl", "5", *where)
    assert code == 1 and "Invalid expiration_ttl of 5" in out
    code, out = cli("kv", "key", "put", "k", "v", "--binding", "NOPE", *where)
    assert code == 1 and "CACHE (cache-id)" in out
    code, out = cli("kv", "key", "put", "k", "v", "--binding", "CACHE", "--metadata", "{", *where)
    assert code == 2 and "not JSON" in out


def test_r2_object_roundtrip(root):
    where = ["--cwd", str(root)]
    (root / "page.html").write_text("<h1>hi</h1>")
    code, out = cli("r2", "object", "put", "files/site/index.html", "--file",
                    str(root / "page.html"), "--content-type", "text/html", *where)  # fmt: skip
    assert code == 0 and "11 bytes" in out
    assert cli("r2", "object", "put", "FILES/raw", "--pipe", *where, input="piped")[0] == 0
    assert cli("r2", "object", "get", "files/raw", *where) == (0, "piped")
    target = root / "out.html"
    assert cli("r2", "object", "get", "files/site/index.html", "-f", str(target), *where)[0] == 0
    assert target.read_text() == "<h1>hi</h1>"
    head = through_binding(root, "FILES", lambda bucket: bucket.head("site/index.html"))
    assert head.httpMetadata.contentType == "text/html"
    assert cli("r2", "object", "delete", "files/raw", *where)[0] == 0
    code, out = cli("r2", "object", "get", "files/raw", *where)
    assert code == 1 and "does not exist" in out
    code, out = cli("r2", "object", "get", "no-slash", *where)
    assert code == 2 and "BUCKET/KEY" in out
