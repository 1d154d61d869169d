"""Live objects: the output gate, resets, reloads, restarts and alarms."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from bindings.durable_objects import alarms
from emulator import loader

THING = """
import asyncio, time

class Thing(DurableObject):
    calls = []
    built = 0

    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        Thing.built += 1

    async def write(self, key, value):
        await self.ctx.storage.put(key, value)
        return "ok"

    async def read(self, key):
        return await self.ctx.storage.get(key)

    async def version(self):
        return "v1"

    async def slow_write(self):
        await asyncio.sleep(0.05)
        await self.ctx.storage.put("slow", True)

    async def give_up(self):
        self.ctx.abort("had enough")

    async def arm(self, delay_ms):
        await self.ctx.storage.setAlarm(time.time() * 1000 + delay_ms)
        return await self.ctx.storage.getAlarm()

    async def alarm(self, info):
        Thing.calls.append((info.retryCount, info.isRetry, await self.ctx.storage.getAlarm()))
        await self.ctx.storage.put("alarmed", len(Thing.calls))
        if len(Thing.calls) <= self.env.FAILS:
            raise RuntimeError("alarm failed")
"""


def config_with(fails: int) -> str:
    from tests.bindings.durable_objects.conftest import CONFIG

    return CONFIG.format(cls="Thing", backend="new_sqlite_classes") + f"[vars]\nFAILS = {fails}\n"


async def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_result_is_released_only_after_its_writes_commit(worker, tmp_path):
    loaded = worker(THING, config=config_with(0))
    stub = loaded.env.OBJ.getByName("a")
    assert await stub.write("k", "v") == "ok"
    path = loaded.env.OBJ.objects.path(str(stub.id))
    assert path.parent == tmp_path / "state" / "v3" / "do" / "objects-Thing"
    other = sqlite3.connect(path)  # another connection sees only committed data
    assert other.execute("SELECT count(*) FROM _cf_KV").fetchone()[0] == 1
    other.close()


async def test_a_caller_that_leaves_does_not_cancel_the_event(worker):
    stub = worker(THING, config=config_with(0)).env.OBJ.getByName("a")
    call = asyncio.ensure_future(stub.slow_write())
    await asyncio.sleep(0.01)
    call.cancel()
    await asyncio.sleep(0.1)
    assert await stub.read("slow") is True


async def test_abort_resets_the_instance_and_keeps_storage(worker):
    loaded = worker(THING, config=config_with(0))
    stub = loaded.env.OBJ.getByName("a")
    await stub.write("k", 1)
    cls = loaded.worker.module.Thing
    built = cls.built
    with pytest.raises(Exception, match="had enough"):
        await stub.give_up()
    assert await stub.read("k") == 1 and cls.built == built + 1


async def test_a_failing_constructor_fails_the_call_and_retries_next_time(worker):
    code = "class Thing(DurableObject):\n    def __init__(self, ctx, env):\n" \
           "        raise ValueError('no constructor today')\n"  # fmt: skip
    stub = worker(code).env.OBJ.getByName("a")
    for _ in range(2):
        with pytest.raises(ValueError, match="no constructor today"):
            await stub.anything()


async def test_reload_rebuilds_instances_with_new_code_on_the_same_storage(worker, tmp_path):
    loaded = worker(THING, config=config_with(0))
    stub = loaded.env.OBJ.getByName("a")
    await stub.write("k", "kept")
    entry = tmp_path / "w" / "entry.py"
    entry.write_text(entry.read_text().replace('return "v1"', 'return "v2"'))
    reloaded = loader.load(loaded.config, loaded.host)  # what edge dev does on a change
    try:
        new_stub = reloaded.env.OBJ.getByName("a")
        assert await new_stub.version() == "v2" and await new_stub.read("k") == "kept"
        assert reloaded.env.OBJ.objects is loaded.env.OBJ.objects  # one session, one store
    finally:
        await loader.retire(reloaded.bound)


async def test_state_survives_a_restart(worker, tmp_path):
    first = worker(THING, config=config_with(0))
    await first.env.OBJ.getByName("a").write("k", {"deep": [1]})
    await first.close()
    second = worker(THING, config=config_with(0))
    assert await second.env.OBJ.getByName("a").read("k") == {"deep": [1]}


async def test_alarm_fires_and_is_cleared(worker):
    loaded = worker(THING, config=config_with(0))
    cls = loaded.worker.module.Thing
    cls.calls.clear()
    stub = loaded.env.OBJ.getByName("a")
    when = await stub.arm(30)
    assert when is not None
    await wait_for(lambda: cls.calls)
    assert cls.calls == [(0, False, None)]  # getAlarm() is None while the handler runs
    await wait_for(lambda: not loaded.env.OBJ.objects.alarms.pending())
    assert await stub.read("alarmed") == 1
    assert await stub.arm(60_000) is not None  # can be set again


async def test_failed_alarms_are_retried_with_backoff(worker, monkeypatch):
    monkeypatch.setattr(alarms, "RETRY_DELAY", 0.01)
    loaded = worker(THING, config=config_with(2))
    cls = loaded.worker.module.Thing
    cls.calls.clear()
    await loaded.env.OBJ.getByName("a").arm(0)
    await wait_for(lambda: len(cls.calls) == 3)
    assert [(retry, is_retry) for retry, is_retry, _ in cls.calls] == [
        (0, False), (1, True), (2, True)]  # fmt: skip
    await wait_for(lambda: not loaded.env.OBJ.objects.alarms.pending())
    assert await loaded.env.OBJ.getByName("a").read("alarmed") == 3


async def test_retries_stop_after_the_limit(worker, monkeypatch):
    monkeypatch.setattr(alarms, "RETRY_DELAY", 0.005)
    monkeypatch.setattr(alarms, "MAX_RETRIES", 2)
    loaded = worker(THING, config=config_with(100))
    cls = loaded.worker.module.Thing
    cls.calls.clear()
    stub = loaded.env.OBJ.getByName("a")
    await stub.arm(0)
    await wait_for(lambda: len(cls.calls) == 3)
    await wait_for(lambda: not loaded.env.OBJ.objects.alarms.pending())
    await asyncio.sleep(0.05)
    assert len(cls.calls) == 3
    assert await loaded.env.OBJ.objects.live(stub.id).storage.getAlarm() is None


async def test_an_alarm_set_before_a_restart_fires_after_it(worker):
    first = worker(THING, config=config_with(0))
    await first.env.OBJ.getByName("a").arm(150)
    await first.close()  # stops before the alarm is due
    second = worker(THING, config=config_with(0))
    cls = second.worker.module.Thing
    cls.calls.clear()
    await wait_for(lambda: cls.calls)
    assert await second.env.OBJ.getByName("a").read("alarmed") == 1


async def test_set_alarm_without_a_handler_is_refused(worker):
    code = ("import time\nclass Thing(DurableObject):\n    async def arm(self):\n"
            "        await self.ctx.storage.setAlarm(time.time() * 1000)\n")  # fmt: skip
    with pytest.raises(TypeError, match="must have an alarm\\(\\) handler"):
        await worker(code).env.OBJ.getByName("a").arm()


async def test_websockets_say_they_are_not_emulated(worker):
    code = ("class Thing(DurableObject):\n    async def ws(self):\n"
            "        assert self.ctx.getWebSockets() == []\n"
            "        self.ctx.acceptWebSocket(None)\n")  # fmt: skip
    with pytest.raises(NotImplementedError, match="acceptWebSocket\\(\\) is not emulated"):
        await worker(code).env.OBJ.getByName("a").ws()
