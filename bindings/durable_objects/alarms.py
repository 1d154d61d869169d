"""Alarm timers of one namespace: each object's one alarm, on the event loop.

An alarm lives in its object's SQLite file (so it survives restarts and reloads); this
module only keeps the timers. On start-up `stored()` reads the alarms already set, so
an alarm set before `edge dev` stopped fires when it starts again. A failed `alarm()`
handler is retried with exponential backoff from 2 seconds, up to 6 retries, as
https://developers.cloudflare.com/durable-objects/api/alarms/ documents
(`RETRY_DELAY`, `MAX_RETRIES`; tests shorten the delay).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

__all__ = ["MAX_RETRIES", "RETRY_DELAY", "AlarmTimers", "stored"]

log = logging.getLogger("edge.durable_objects")

RETRY_DELAY = 2.0  # seconds before the first retry; doubled for each next one
MAX_RETRIES = 6

Fire = Callable[[str, int], Awaitable[None]]


class AlarmTimers:
    """One timer per object (keyed by its hex id); `fire(key, retry)` runs at its time.
    Timers asked for before an event loop runs wait for `start()`."""

    def __init__(self, fire: Fire) -> None:
        self._fire = fire
        self._due: dict[str, tuple[int, int]] = {}  # key -> (ms, retry)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def schedule(self, key: str, ms: int | None, retry: int = 0) -> None:
        """Fire `key`'s alarm at `ms` (epoch milliseconds); None cancels it."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if ms is None:
            self._due.pop(key, None)
            return
        self._due[key] = (ms, retry)
        self._arm(key)

    def start(self) -> None:
        """Arm the timers of alarms scheduled before an event loop was running."""
        for key in list(self._due):
            if key not in self._timers:
                self._arm(key)

    def _arm(self, key: str) -> None:
        if self._closed:
            return
        try:
            loop = self._loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # armed by start()
        ms, retry = self._due[key]
        delay = max(0.0, ms / 1000 - time.time())
        self._timers[key] = loop.call_later(delay, self._run, key, retry)

    def _run(self, key: str, retry: int) -> None:
        self._timers.pop(key, None)
        self._due.pop(key, None)
        task = asyncio.ensure_future(self._fire(key, retry))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("running a Durable Object alarm failed",
                      exc_info=(type(exc), exc, exc.__traceback__))  # fmt: skip

    def pending(self) -> dict[str, int]:
        """Scheduled alarms: hex id -> epoch milliseconds."""
        return {key: ms for key, (ms, _retry) in self._due.items()}

    async def close(self) -> None:
        """Stop every timer and wait for alarm handlers already running to be cancelled."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def stored(folder: Path) -> dict[str, int]:
    """The alarms set in the object files of `folder`: hex id -> epoch milliseconds."""
    found: dict[str, int] = {}
    if not folder.is_dir():
        return found
    for path in folder.glob("*.sqlite"):
        try:
            db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
            try:
                row = db.execute(
                    "SELECT value FROM _cf_METADATA WHERE key = 'alarm'"
                ).fetchone()
            finally:
                db.close()
        except sqlite3.Error as exc:
            log.warning("cannot read the alarm of Durable Object %s: %s", path.stem, exc)
            continue
        if row is not None:
            found[path.stem] = int(row[0])
    return found
