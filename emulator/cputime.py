"""CPU time per request, and `[limits] cpu_ms` as a warning.

Cloudflare bills and limits a request by its CPU time, not its wall time: time spent
awaiting I/O (a fetch, `env.AI.run`, storage) does not count
(https://developers.cloudflare.com/workers/platform/limits/#cpu-time). Under asyncio
one thread runs every request, so `time.thread_time()` before and after a handler
would charge it every other request's work done while it awaited. `metered(coro)`
charges only the handler's own steps instead: it drives the handler coroutine and adds
the loop thread's CPU time across each `send()`/`throw()` into it, i.e. exactly the
slices in which the handler's code (and whatever it calls synchronously) ran. Not
counted: tasks the handler spawns (`asyncio.create_task`, `gather` children,
`ctx.wait_until` work), a streamed body's producer after the handler returned, and
threads (the llama.cpp engine, `asyncio.to_thread`). Cost: two `thread_time()` calls
per step (about a microsecond for a hello world).

`[limits] cpu_ms` (https://developers.cloudflare.com/workers/wrangler/configuration/#limits):
a request over it is logged as a warning naming the figure and the error Cloudflare
would give (503, error 1102 "Worker exceeded CPU time limit"); the request itself is
answered, since a local run on a debugger or a loaded laptop is not a production
isolate. Without the key nothing is checked (Cloudflare's defaults depend on the plan).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["CpuMeter", "cpu_limit_ms", "metered"]

log = logging.getLogger("edge.cpu")


class CpuMeter:
    """Accumulates CPU seconds; `ms` is the total in milliseconds."""

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = 0.0

    @property
    def ms(self) -> float:
        return self.seconds * 1000


class metered:  # used like a function: `await metered(coro, meter)`
    """Await `coro`, adding the CPU time of each of its steps to `meter`."""

    __slots__ = ("_coro", "_meter")

    def __init__(self, coro: Coroutine[Any, Any, Any], meter: CpuMeter) -> None:
        self._coro = coro
        self._meter = meter

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, meter, clock = self._coro, self._meter, time.thread_time
        value: Any = None
        error: BaseException | None = None
        while True:
            start = clock()
            try:
                yielded = coro.send(value) if error is None else coro.throw(error)
            except StopIteration as stop:
                meter.seconds += clock() - start
                return stop.value
            except BaseException:
                meter.seconds += clock() - start
                raise
            meter.seconds += clock() - start
            try:
                value, error = (yield yielded), None
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation, thrown in at the await
                value, error = None, exc


def cpu_limit_ms(raw: dict[str, Any], env_name: str | None = None) -> float | None:
    """`[limits] cpu_ms` of a parsed wrangler file (an `[env.X]` section's own first,
    as `limits` is inherited); None when not set. A bad value raises `ValueError`."""
    section = raw.get("limits")
    if env_name:
        section = ((raw.get("env") or {}).get(env_name) or {}).get("limits", section)
    if not isinstance(section, dict) or section.get("cpu_ms") is None:
        return None
    value = section["cpu_ms"]
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"[limits] cpu_ms must be a positive number of milliseconds: {value!r}")
    return float(value)


def warn_over_limit(method: str, path: str, used_ms: float, limit_ms: float) -> None:
    log.warning(
        "%s %s used %.0f ms of CPU, over [limits] cpu_ms = %g: on Cloudflare it would fail"
        " with 503, error 1102 \"Worker exceeded CPU time limit\"",
        method,
        path,
        used_ms,
        limit_ms,
    )
