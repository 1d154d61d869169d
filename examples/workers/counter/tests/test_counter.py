"""How to test a worker with Durable Objects: in-process, no server, no port (run
`pytest examples/workers/counter`). Each test gets fresh state; `emulator.testing`
has helpers to look inside objects, named after `cloudflare:test`'s."""

import asyncio

from emulator.testing import list_durable_object_ids, run_durable_object_alarm


async def test_each_name_is_its_own_counter(edge_worker):
    worker = edge_worker()
    assert (await (await worker.fetch("/counters/a/increment", method="POST")).json()) == {
        "name": "a", "value": 1}  # fmt: skip
    await worker.fetch("/counters/a/increment?by=5", method="POST")
    await worker.fetch("/counters/b/increment", method="POST")
    assert (await (await worker.fetch("/counters/a")).json())["value"] == 6
    assert (await (await worker.fetch("/counters/b")).json())["value"] == 1


async def test_concurrent_increments_are_never_lost(edge_worker):
    worker = edge_worker()
    await asyncio.gather(*(worker.fetch("/counters/busy/increment", method="POST")
                           for _ in range(25)))  # fmt: skip
    assert (await (await worker.fetch("/counters/busy")).json())["value"] == 25


async def test_history_comes_from_sql(edge_worker):
    worker = edge_worker()
    for by in (1, 2, 3):
        await worker.fetch(f"/counters/h/increment?by={by}", method="POST")
    history = await (await worker.fetch("/counters/h/history")).json()
    assert [row["amount"] for row in history] == [3, 2, 1]


async def test_the_stub_can_be_called_directly(edge_worker):
    counter = edge_worker().env.COUNTER.getByName("direct")
    assert await counter.increment(4) == 4
    assert await counter.value() == 4
    raw = await counter.fetch("https://counter/raw")
    assert (await raw.json())["value"] == 4


async def test_state_outlives_the_worker(edge_worker, tmp_path):
    first = edge_worker(persist_to=tmp_path)
    await first.fetch("/counters/kept/increment?by=7", method="POST")
    await first.close()
    second = edge_worker(persist_to=tmp_path)  # like restarting edge dev
    assert (await (await second.fetch("/counters/kept")).json())["value"] == 7


async def test_expiry_alarm_resets_the_counter(edge_worker):
    worker = edge_worker()
    await worker.fetch("/counters/temp/increment", method="POST")
    await worker.fetch("/counters/temp/expire?seconds=3600", method="POST")
    stub = worker.env.COUNTER.getByName("temp")
    assert await run_durable_object_alarm(stub)  # no need to wait an hour
    assert (await (await worker.fetch("/counters/temp")).json())["value"] == 0
    assert await (await worker.fetch("/counters/temp/history")).json() == []
    assert list_durable_object_ids(worker.env.COUNTER) == [stub.id]
