"""The input gate: what interleaves and what cannot, as Cloudflare documents it."""

from __future__ import annotations

import asyncio

import pytest

COUNTER = """
import asyncio

class Thing(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.ready = False
        self.inits = getattr(Thing, "inits", 0) + 1
        Thing.inits = self.inits
        ctx.blockConcurrencyWhile(self.setup)

    async def setup(self):
        await asyncio.sleep(0.02)  # real I/O: other events would run here if not held
        self.ready = await self.ctx.storage.get("ready") or True

    async def is_ready(self):
        return self.ready

    async def storage_only(self):
        value = await self.ctx.storage.get("n") or 0
        await self.ctx.storage.put("n", value + 1)
        return value + 1

    async def with_io(self):
        value = await self.ctx.storage.get("m") or 0
        await asyncio.sleep(0)  # e.g. a fetch(): the input gate is open here
        await self.ctx.storage.put("m", value + 1)

    async def with_io_blocked(self):
        async def critical():
            value = await self.ctx.storage.get("b") or 0
            await asyncio.sleep(0)
            await self.ctx.storage.put("b", value + 1)
        await self.ctx.blockConcurrencyWhile(critical)

    async def move(self, amount):
        a = await self.ctx.storage.get("a") or 100
        b = await self.ctx.storage.get("b2") or 0
        await self.ctx.storage.put({"a": a - amount, "b2": b + amount})

    async def total(self):
        return (await self.ctx.storage.get("a") or 100) + (await self.ctx.storage.get("b2") or 0)

    async def get(self, key):
        return await self.ctx.storage.get(key)

    async def fail_init_later(self):
        async def broken():
            await asyncio.sleep(0.01)
            raise RuntimeError("init broke")
        self.ctx.blockConcurrencyWhile(broken)
        return "started"
"""


async def test_storage_read_modify_write_never_interleaves(worker):
    stub = worker(COUNTER).env.OBJ.getByName("c")
    results = await asyncio.gather(*(stub.storage_only() for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    assert await stub.get("n") == 50


async def test_other_io_lets_events_interleave_unless_blocked(worker):
    stub = worker(COUNTER).env.OBJ.getByName("c")
    await asyncio.gather(*(stub.with_io() for _ in range(20)))
    # Cloudflare semantics: the gate is open while awaiting non-storage I/O: lost updates
    assert await stub.get("m") < 20
    await asyncio.gather(*(stub.with_io_blocked() for _ in range(20)))
    assert await stub.get("b") == 20


async def test_interleaved_transfers_never_see_torn_state(worker):
    stub = worker(COUNTER).env.OBJ.getByName("c")
    seen = []

    async def observe():
        for _ in range(30):
            seen.append(await stub.total())
            await asyncio.sleep(0)

    await asyncio.gather(observe(), *(stub.move(1) for _ in range(30)))
    assert set(seen) == {100} and await stub.get("b2") == 30


async def test_block_concurrency_while_in_the_constructor_holds_every_event(worker):
    stub = worker(COUNTER).env.OBJ.getByName("c")
    assert await asyncio.gather(*(stub.is_ready() for _ in range(10))) == [True] * 10


async def test_a_failed_block_resets_the_object_and_fails_waiting_events(worker, caplog):
    loaded = worker(COUNTER)
    stub = loaded.env.OBJ.getByName("c")
    await stub.storage_only()
    assert await stub.fail_init_later() == "started"
    with pytest.raises(RuntimeError, match="init broke"):
        await stub.is_ready()
    # the next event gets a fresh instance (constructor runs again); storage is kept
    assert await stub.is_ready() is True
    assert await stub.get("n") == 1
    assert "blockConcurrencyWhile() callback failed" in caplog.text


async def test_block_concurrency_while_times_out(worker, monkeypatch):
    from bindings.durable_objects import gate

    monkeypatch.setattr(gate, "BLOCK_TIMEOUT", 0.05)
    code = COUNTER.replace("await asyncio.sleep(0.02)", "await asyncio.sleep(5)")
    stub = worker(code).env.OBJ.getByName("c")
    with pytest.raises(TimeoutError, match="waited for too long"):
        await stub.is_ready()
