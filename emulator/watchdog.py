"""Say where a worker blocks the event loop, while it blocks it.

One event loop serves the worker port and the Workers AI REST API: a handler that
computes for 20 s without awaiting (a busy loop, a synchronous HTTP call, `time.sleep`)
freezes both, and without a word the developer only sees requests hang. On Cloudflare
such a request would hit its CPU limit. `LoopWatchdog` notices instead: the loop bumps
a heartbeat every `threshold / 4`; a daemon thread checks it, and once the loop has not
turned for `threshold` seconds it logs, once per stall, the stack of the loop thread
(`sys._current_frames()`), starting at the first frame outside asyncio, uvicorn and
edge's own request path, i.e. the worker's code that holds the loop; when the loop
turns again it logs how long the stall lasted.

Cost: one timer callback per `threshold / 4` on the loop and a thread that sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback
from pathlib import Path

__all__ = ["DEFAULT_THRESHOLD", "LoopWatchdog", "blocked_stack", "blocked_threshold"]

log = logging.getLogger("edge.watchdog")

#: seconds the loop may stay blocked before the watchdog speaks (`EDGE_BLOCKED_MS`)
DEFAULT_THRESHOLD = 0.5

def blocked_threshold() -> float:
    """Seconds from `EDGE_BLOCKED_MS` (milliseconds), else `DEFAULT_THRESHOLD`."""
    value = os.environ.get("EDGE_BLOCKED_MS", "").strip()
    try:
        return float(value) / 1000 if value and float(value) > 0 else DEFAULT_THRESHOLD
    except ValueError:
        log.warning("EDGE_BLOCKED_MS=%r is not a number of milliseconds; using %g", value,
                    DEFAULT_THRESHOLD * 1000)
        return DEFAULT_THRESHOLD


def _library_dirs() -> tuple[str, ...]:
    dirs = [Path(__file__).parent]
    for name in ("uvicorn", "uvloop", "anyio", "starlette"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            dirs.append(Path(module.__file__).parent)
    return tuple(str(d) + os.sep for d in dirs)


def blocked_stack(thread_id: int) -> str:
    """The stack of thread `thread_id` from the first frame after the event loop's
    machinery and edge's request path: the worker's code."""
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return "(the thread is gone)"
    frames = traceback.extract_stack(frame)
    # what runs the loop (a CLI, pytest) ends with its last asyncio frame; then come the
    # request path's frames (uvicorn, starlette, edge), then the worker's
    loop_dir = str(Path(asyncio.__file__).parent) + os.sep
    start = max((i + 1 for i, f in enumerate(frames) if f.filename.startswith(loop_dir)), default=0)
    library = _library_dirs()
    while start < len(frames) - 1 and frames[start].filename.startswith(library):
        start += 1
    return "".join(traceback.format_list(frames[start:]))


class LoopWatchdog:
    """`start()` from the loop's thread; `stop()` when the loop is done."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self.interval = max(threshold / 4, 0.005)
        self.stalls = 0  # stalls reported so far
        self._beat = time.monotonic()
        self._reported_at: float | None = None  # the heartbeat of the stall reported
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._thread_id = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread_id = threading.get_ident()
        self._heartbeat()
        self._thread = threading.Thread(target=self._run, name="edge-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
        if self._thread is not None:
            self._thread.join(timeout=1)

    def _heartbeat(self) -> None:
        now = time.monotonic()
        reported = self._reported_at
        if reported is not None and reported == self._beat:
            log.warning("the event loop turns again after %.1f s", now - self._beat)
        self._beat = now
        assert self._loop is not None
        self._handle = self._loop.call_later(self.interval, self._heartbeat)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            beat = self._beat
            stalled = time.monotonic() - beat
            if stalled < self.threshold or self._reported_at == beat:
                continue
            stack = blocked_stack(self._thread_id)
            self._reported_at = beat
            self.stalls += 1
            log.warning(
                "the event loop has been blocked for %.1f s: no request on any port is"
                " served until it returns (await instead, or move the work to a thread"
                " with asyncio.to_thread). It is blocked at:\n%s",
                stalled,
                stack.rstrip(),
            )
