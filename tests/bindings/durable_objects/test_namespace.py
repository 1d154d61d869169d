"""The namespace binding and its stubs: ids, RPC (cloned both ways), fetch, errors."""

from __future__ import annotations

import re

import pytest

from bindings.durable_objects.clone import DataCloneError

THING = """
class MyError(ValueError):
    pass

class Thing(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.seen = []

    async def echo(self, *args, **kwargs):
        self.seen.append(args)
        return {"args": list(args), "kwargs": kwargs, "id": str(self.ctx.id),
                "name": self.ctx.id.name}

    def sync_method(self, x):
        return x * 2

    async def keep(self, value):
        value["mutated"] = True
        self.kept = value
        return self.kept

    async def fail(self, kind):
        if kind == "custom":
            raise MyError("custom failure")
        if kind == "key":
            raise KeyError("k")
        raise RuntimeError("plain failure")

    async def bad_result(self):
        return (1, 2)

    def _private(self):
        return "hidden"

    async def fetch(self, request):
        body = await request.text()
        return Response(f"{request.method} {request.url} {body} {request.headers.get('x-a')}")
"""


async def test_rpc_arguments_and_results_are_copies(worker):
    ns = worker(THING).env.OBJ
    stub = ns.getByName("alice")
    result = await stub.echo(1, 2.0, "three", [4], key={"v": 5})
    assert result == {"args": [1, 2, "three", [4]], "kwargs": {"key": {"v": 5}},
                      "id": str(ns.idFromName("alice")), "name": "alice"}  # fmt: skip
    sent = {"a": 1}
    back = await stub.keep(sent)
    assert back == {"a": 1, "mutated": True} and sent == {"a": 1}  # the caller's dict untouched
    assert await stub.sync_method(21) == 42
    assert stub.name == "alice" and stub.id == ns.idFromName("alice")


async def test_same_id_same_object_other_id_other_object(worker):
    ns = worker(THING).env.OBJ
    await ns.get(ns.idFromName("a")).echo("x")
    await ns.getByName("a").echo("y")
    await ns.getByName("b").echo("z")
    unique = ns.newUniqueId()
    assert (await ns.get(ns.idFromString(str(unique))).echo())["name"] is None
    assert len(ns.objects.objects) == 3


async def test_unclonable_arguments_fail_in_the_caller(worker):
    stub = worker(THING).env.OBJ.getByName("a")
    with pytest.raises(TypeError, match=re.escape("<class 'tuple'> cannot be sent over RPC.")):
        await stub.echo((1, 2))
    with pytest.raises(DataCloneError, match='Could not serialize object of type "PyProxy"'):
        await stub.echo(object())
    with pytest.raises(TypeError, match=re.escape("<class 'tuple'> cannot be sent over RPC.")):
        await stub.bad_result()


async def test_exceptions_cross_with_their_message_and_remote_flag(worker):
    stub = worker(THING).env.OBJ.getByName("a")
    with pytest.raises(ValueError, match=r"^custom failure$") as info:
        await stub.fail("custom")
    assert type(info.value) is ValueError and info.value.remote is True
    assert type(info.value.__cause__).__name__ == "MyError"  # the original, for the traceback
    with pytest.raises(KeyError):
        await stub.fail("key")
    with pytest.raises(RuntimeError, match="plain failure"):
        await stub.fail("other")


@pytest.mark.parametrize("name", ["missing", "_private", "seen", "ctx"])
async def test_only_public_methods_are_callable(worker, name):
    stub = worker(THING).env.OBJ.getByName("a")
    with pytest.raises(TypeError) as info:
        await getattr(stub, name)()
    assert str(info.value) == f'The RPC receiver does not implement the method "{name}".'


async def test_stub_fetch_reaches_the_objects_fetch(worker):
    from workers import Request

    stub = worker(THING).env.OBJ.getByName("a")
    response = await stub.fetch("https://do/path", method="POST", body="hi",
                                headers={"x-a": "1"})  # fmt: skip
    assert await response.text() == "POST https://do/path hi 1"
    request = Request("https://do/r", method="PUT", body="b")
    assert await (await stub.fetch(request)).text() == "PUT https://do/r b None"
    with pytest.raises(TypeError, match="Invalid URL"):
        await stub.fetch("/relative")
    with pytest.raises(TypeError, match="unexpected option"):
        await stub.fetch("https://do/", verb="GET")


async def test_fetch_without_a_handler(worker):
    loaded = worker("class Thing(DurableObject):\n    pass\n")
    with pytest.raises(TypeError, match=r"^Handler does not export a fetch\(\) function.$"):
        await loaded.env.OBJ.getByName("a").fetch("https://do/")


async def test_get_checks_its_argument(worker):
    ns = worker(THING).env.OBJ
    with pytest.raises(TypeError, match="get\\(\\) takes a DurableObjectId"):
        ns.get("alice")
    from bindings.durable_objects.ids import IdFactory

    with pytest.raises(TypeError, match="not valid for this namespace"):
        ns.get(IdFactory("other-Thing").from_name("a"))


async def test_jurisdiction_subnamespaces(worker):
    ns = worker(THING).env.OBJ
    eu = ns.jurisdiction("eu")
    eu_id = eu.newUniqueId()
    assert eu_id.jurisdiction == "eu" and ns.idFromString(str(eu_id)).jurisdiction == "eu"
    assert (await eu.getByName("x").echo())["name"] == "x"
    assert eu.idFromName("x") != ns.idFromName("x")
    with pytest.raises(TypeError, match="from a different jurisdiction"):
        eu.get(ns.idFromName("x"))
    assert ns.newUniqueId(jurisdiction="fedramp").jurisdiction == "fedramp"


async def test_stubs_and_ids_cross_rpc_as_themselves(worker):
    code = THING + """
    async def call_other(self, stub):
        return await stub.sync_method(5)
"""
    ns = worker(code).env.OBJ
    assert await ns.getByName("a").call_other(ns.getByName("b")) == 10
