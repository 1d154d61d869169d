"""Workers KV binding: API shape, persistence, expiry, listing, limits."""

from __future__ import annotations

import json

import pytest

from bindings import kv
from bindings.kv import KvError
from bindings.registry import BindingHost
from emulator.config import BindingSpec


@pytest.fixture
async def host(tmp_path):
    host = BindingHost(state_dir=tmp_path / "state")
    yield host
    await host.close()


@pytest.fixture
def ns(host):
    return kv.build(BindingSpec("kv_namespaces", "CACHE", {"binding": "CACHE", "id": "abc"}), host)


async def test_put_get_text_json_bytes(ns):
    assert await ns.get("missing") is None
    await ns.put("greeting", "héllo")
    assert await ns.get("greeting") == "héllo"
    assert await ns.get("greeting", "arrayBuffer") == "héllo".encode()
    assert await ns.get("greeting", type="bytes") == "héllo".encode()
    await ns.put("doc", json.dumps({"a": {"b": [1, 2]}}))
    doc = await ns.get("doc", type="json")
    assert doc == {"a": {"b": [1, 2]}} and doc.a.b == [1, 2]
    assert (await ns.get("doc", {"type": "json", "cacheTtl": 60}))["a"]["b"] == [1, 2]
    await ns.put("raw", b"\x00\xff")
    assert await ns.get("raw", "arrayBuffer") == b"\x00\xff"


async def test_stream_in_and_out(ns):
    async def chunks():
        yield b"ab"
        yield "cd"

    await ns.put("s", chunks())
    stream = await ns.get("s", type="stream")
    assert b"".join([chunk async for chunk in stream]) == b"abcd"


async def test_bulk_get(ns):
    await ns.put("a", "1")
    assert await ns.get(["a", "b"]) == {"a": "1", "b": None}


async def test_metadata_and_delete(ns):
    await ns.put("k", "v", metadata={"owner": "me", "n": 1})
    result = await ns.getWithMetadata("k")
    assert result == {"value": "v", "metadata": {"owner": "me", "n": 1}, "cacheStatus": None}
    assert result.metadata.owner == "me"
    await ns.delete("k")
    empty = await ns.get_with_metadata("k")
    assert empty.value is None and empty.metadata is None
    await ns.delete("never-existed")  # not an error, as on Cloudflare


async def test_persists_across_instances(host, tmp_path):
    spec = BindingSpec("kv_namespaces", "CACHE", {"binding": "CACHE", "id": "persist"})
    await kv.build(spec, host).put("k", "v")
    await host.close()
    again = BindingHost(state_dir=tmp_path / "state")
    try:
        assert await kv.build(spec, again).get("k") == "v"
    finally:
        await again.close()
    assert (tmp_path / "state" / "v3" / "kv" / "persist" / "kv.sqlite").is_file()


async def test_namespaces_are_separate(host, ns):
    other = kv.build(BindingSpec("kv_namespaces", "OTHER", {"binding": "OTHER", "id": "x"}), host)
    await ns.put("k", "mine")
    assert await other.get("k") is None
    no_id = kv.build(BindingSpec("kv_namespaces", "NOID", {"binding": "NOID"}), host)
    assert no_id.namespace_id == "NOID"


async def test_expiration(ns):
    now = [1_000_000.0]
    ns._clock = lambda: now[0]
    await ns.put("ttl", "v", expirationTtl=60)
    await ns.put("abs", "v", options={"expiration": 1_000_100})
    await ns.put("snake", "v", expiration_ttl=300)
    listed = await ns.list()
    assert {k["name"]: k["expiration"] for k in listed["keys"]} == {
        "abs": 1_000_100, "snake": 1_000_300, "ttl": 1_000_060,
    }  # fmt: skip
    now[0] += 61
    assert await ns.get("ttl") is None
    assert await ns.get("abs") == "v"
    assert [k.name for k in (await ns.list()).keys] == ["abs", "snake"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expirationTtl": 30}, "Invalid expiration_ttl of 30"),
        ({"expiration": 10}, "at least 60 seconds in the future"),
        ({"metadata": {"x": "y" * 2000}}, "Metadata length"),
        ({"colour": "red"}, "Unknown option"),
    ],
)
async def test_put_rejects_bad_options(ns, kwargs, message):
    with pytest.raises(KvError, match=message):
        await ns.put("k", "v", **kwargs)
    assert await ns.get("k") is None


@pytest.mark.parametrize(
    ("key", "message"),
    [("", "must not be empty"), (".", "Illegal key name"), ("x" * 513, "exceeds key length")],
)
async def test_bad_keys(ns, key, message):
    with pytest.raises(KvError, match=message):
        await ns.put(key, "v")
    with pytest.raises(KvError, match=message):
        await ns.get(key)


async def test_bad_values_and_types(ns):
    with pytest.raises(KvError, match=r"json\.dumps"):
        await ns.put("k", {"a": 1})
    with pytest.raises(KvError, match="Unknown response type"):
        await ns.get("k", type="xml")
    with pytest.raises(KvError, match="Invalid cache_ttl of 10"):
        await ns.get("k", cacheTtl=10)


async def test_list_prefix_limit_cursor(ns):
    for name in ["user:3", "user:1", "user:2", "team:1", "user:10"]:
        await ns.put(name, "v", metadata={"name": name})
    page = await ns.list(prefix="user:", limit=2)
    assert [k["name"] for k in page["keys"]] == ["user:1", "user:10"]
    assert page.list_complete is False and page.cursor
    assert page["keys"][0]["metadata"] == {"name": "user:1"}
    rest = await ns.list({"prefix": "user:", "cursor": page.cursor})
    assert [k["name"] for k in rest["keys"]] == ["user:2", "user:3"]
    assert rest.list_complete is True and "cursor" not in rest
    everything = await ns.list()
    assert len(everything["keys"]) == 5 and everything["cacheStatus"] is None
    # `.keys` is the array (a JS property on Cloudflare), yet the dict protocol still works
    assert [k.name for k in everything.keys][:2] == ["team:1", "user:1"]
    assert set(everything.keys()) == {"keys", "list_complete", "cacheStatus"}
    assert json.loads(json.dumps(everything))["list_complete"] is True
    assert dict(everything)["list_complete"] is True


@pytest.mark.parametrize(("limit", "message"), [(0, "greater than 0"), (1001, "less than 1001")])
async def test_list_limit_bounds(ns, limit, message):
    with pytest.raises(KvError, match=message):
        await ns.list(limit=limit)


async def test_list_bad_cursor(ns):
    with pytest.raises(KvError, match="Invalid cursor"):
        await ns.list(cursor="%%%")


def test_registered_in_registry():
    from bindings import kv, registry

    assert registry.KINDS["kv_namespaces"] == "bindings.kv"
    assert registry.get("kv_namespaces") is kv.KIND and kv.KIND.emulated


async def test_build_env_gives_the_namespace(tmp_path, host):
    from bindings.registry import build_env
    from emulator.config import load_config

    (tmp_path / "w.py").write_text("")
    (tmp_path / "wrangler.toml").write_text(
        'main = "w.py"\ncompatibility_flags = ["python_workers"]\n'
        '[[kv_namespaces]]\nbinding = "KV"\nid = "n1"\n'
    )
    env = build_env(load_config(tmp_path), host)
    await env["KV"].put("a", "b")
    assert await env["KV"].get("a") == "b"
