"""The `cloudflare:test`-style helpers exported by `emulator.testing`."""

from __future__ import annotations

import pytest

from emulator.testing import (
    list_durable_object_ids,
    run_durable_object_alarm,
    run_in_durable_object,
)

THING = """
import time

class Thing(DurableObject):
    fired = 0

    async def touch(self):
        await self.ctx.storage.put("touched", True)

    async def arm(self):
        await self.ctx.storage.setAlarm(time.time() * 1000 + 3_600_000)

    async def alarm(self):
        Thing.fired += 1
"""


async def test_run_in_durable_object_sees_the_instance_and_its_ctx(worker):
    ns = worker(THING).env.OBJ
    stub = ns.getByName("a")

    async def inside(instance, ctx):
        await ctx.storage.put("k", 1)
        return type(instance).__name__, str(ctx.id)

    assert await run_in_durable_object(stub, inside) == ("Thing", str(stub.id))
    assert await run_in_durable_object(stub, lambda i, ctx: ctx.storage.kv.get("k")) == 1


async def test_run_durable_object_alarm_runs_a_set_alarm_now(worker):
    loaded = worker(THING)
    stub = loaded.env.OBJ.getByName("a")
    assert await run_durable_object_alarm(stub) is False
    await stub.arm()
    assert await run_durable_object_alarm(stub) is True
    assert loaded.worker.module.Thing.fired == 1
    assert await run_durable_object_alarm(stub) is False  # it ran, so it is cleared


async def test_list_durable_object_ids(worker):
    ns = worker(THING).env.OBJ
    assert list_durable_object_ids(ns) == []
    await ns.getByName("a").touch()
    await ns.getByName("b").touch()
    assert sorted(map(str, list_durable_object_ids(ns))) == sorted(
        [str(ns.idFromName("a")), str(ns.idFromName("b"))]
    )


async def test_helpers_need_a_stub(worker):
    with pytest.raises(TypeError, match="expected a Durable Object stub"):
        await run_durable_object_alarm("nope")
