"""LoopWatchdog: a blocked event loop is reported once per stall, with the worker's stack."""

from __future__ import annotations

import asyncio
import logging
import time

from emulator.watchdog import LoopWatchdog, blocked_threshold


def a_worker_busy_loop(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def test_a_blocked_loop_is_reported_once_with_the_blocking_frame(caplog):
    caplog.set_level(logging.WARNING, "edge.watchdog")
    watchdog = LoopWatchdog(threshold=0.1)
    watchdog.start()
    try:
        await asyncio.sleep(0.15)  # turning: nothing to say
        assert watchdog.stalls == 0
        a_worker_busy_loop(0.5)  # five thresholds: still one report
        await asyncio.sleep(0.05)
        a_worker_busy_loop(0.3)  # a second stall
        await asyncio.sleep(0.05)
    finally:
        watchdog.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "edge.watchdog"]
    blocked = [m for m in messages if "has been blocked" in m]
    assert watchdog.stalls == 2 and len(blocked) == 2
    assert "a_worker_busy_loop" in blocked[0] and "test_watchdog.py" in blocked[0]
    assert "asyncio" not in blocked[0].split("It is blocked at:")[1]  # the worker's frames
    assert sum("turns again" in m for m in messages) == 2


async def test_no_report_while_the_loop_turns(caplog):
    watchdog = LoopWatchdog(threshold=0.05)
    watchdog.start()
    try:
        for _ in range(20):
            await asyncio.sleep(0.01)
    finally:
        watchdog.stop()
    assert watchdog.stalls == 0


def test_threshold_from_the_environment(monkeypatch):
    monkeypatch.setenv("EDGE_BLOCKED_MS", "250")
    assert blocked_threshold() == 0.25
    monkeypatch.setenv("EDGE_BLOCKED_MS", "soon")
    assert blocked_threshold() == 0.5
