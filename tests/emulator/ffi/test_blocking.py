"""`run_sync`: blocking only where edge can block (its thread pool), never the loop."""

from __future__ import annotations

import asyncio

import pytest

from emulator.ffi.blocking import call_blocking, can_run_sync, run_sync


async def test_run_sync_in_the_pool_awaits_on_the_loop():
    loop = asyncio.get_running_loop()

    async def on_loop():
        return asyncio.get_running_loop() is loop

    def sync_code():
        assert can_run_sync()
        return run_sync(on_loop())

    assert await call_blocking(sync_code) is True


async def test_run_sync_on_the_loop_thread_explains_itself():
    assert not can_run_sync()
    with pytest.raises(RuntimeError, match="cannot block here"):
        run_sync(asyncio.sleep(0))


def test_run_sync_outside_any_worker_and_bad_input():
    with pytest.raises(RuntimeError, match="cannot block here"):
        run_sync(asyncio.sleep(0))
    with pytest.raises(TypeError, match="needs an awaitable"):
        run_sync(1)


async def test_errors_cross_back():
    async def fails():
        raise KeyError("async side")

    with pytest.raises(KeyError, match="async side"):
        await call_blocking(lambda: run_sync(fails()))
