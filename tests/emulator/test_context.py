import asyncio
import logging

import pytest

from emulator.context import ExecutionContext


async def test_wait_until_runs_concurrently_and_drain_awaits_it():
    ctx = ExecutionContext()
    done = []
    gate = asyncio.Event()

    async def work():
        await gate.wait()
        done.append(1)

    ctx.wait_until(work())
    ctx.waitUntil(asyncio.sleep(0))
    assert ctx.pending == 2
    gate.set()
    await ctx.drain()
    assert done == [1] and ctx.pending == 0


async def test_work_added_while_draining_is_awaited():
    ctx = ExecutionContext()
    done = []

    async def inner():
        done.append("inner")

    async def outer():
        ctx.wait_until(inner())
        done.append("outer")

    ctx.wait_until(outer())
    await ctx.drain()
    assert done == ["outer", "inner"]


async def test_failures_are_logged_not_raised_by_default(caplog):
    ctx = ExecutionContext()

    async def boom():
        raise RuntimeError("background failure")

    ctx.wait_until(boom())
    with caplog.at_level(logging.ERROR, logger="edge.worker"):
        await ctx.drain()
    assert "wait_until" in caplog.text and "background failure" in caplog.text


async def test_drain_raise_errors_reraises_the_first():
    ctx = ExecutionContext()

    async def boom():
        raise ValueError("first")

    ctx.wait_until(boom())
    with pytest.raises(ValueError, match="first"):
        await ctx.drain(raise_errors=True)


def test_non_awaitable_is_a_clear_type_error():
    ctx = ExecutionContext()

    async def work():
        return 1

    with pytest.raises(TypeError, match="forget to call"):
        ctx.wait_until(work)


def test_wait_until_before_a_loop_runs_is_kept_for_drain():
    ctx = ExecutionContext()
    done = []

    async def work():
        done.append(1)

    ctx.wait_until(work())
    assert ctx.pending == 1
    asyncio.run(ctx.drain())
    assert done == [1]


def test_pass_through_on_exception_is_accepted():
    ctx = ExecutionContext()
    assert ctx.passThroughOnException() is None
    assert ctx.pass_through_on_exception() is None
