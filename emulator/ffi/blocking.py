"""`run_sync`: synchronous code awaiting a coroutine, as JSPI lets it on Cloudflare.

On Cloudflare, Pyodide's `run_sync(awaitable)` suspends the whole WebAssembly stack until
the awaitable settles (JavaScript Promise Integration), so synchronous code -- a WSGI app,
Django's ORM in `django-cf`'s D1 backend -- can call async bindings. CPython cannot
suspend a stack, so edge runs such code in a thread of its own pool (`call_blocking`) and
`run_sync` hands the awaitable to the event loop and blocks that thread until it is done.

The isolate's single thread is kept: each `call_blocking` caller may pass a lock (one per
WSGI app), held while its synchronous code runs and released while `run_sync` waits, so
synchronous code of one app never runs in two threads at once -- it switches only where
JSPI would, at `run_sync`. `run_sync` from the event loop's own thread cannot block and
raises, naming the way out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["call_blocking", "can_run_sync", "run_sync"]

T = TypeVar("T")

_POLL = 0.5  # seconds between checks that the event loop is still there


@dataclass(frozen=True)
class _Bridge:
    loop: asyncio.AbstractEventLoop
    lock: threading.Lock | None


_bridge: contextvars.ContextVar[_Bridge | None] = contextvars.ContextVar(
    "edge_run_sync_bridge", default=None
)
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # Threads mostly wait (for the lock, for run_sync): many are cheap.
            _pool = concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="edge-sync")
        return _pool


async def call_blocking(
    func: Callable[..., T], *args: Any, lock: threading.Lock | None = None
) -> T:
    """Run `func(*args)` in edge's thread pool, with the caller's context variables, where
    `run_sync` may block on this event loop; `lock` is held while `func` runs."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    context.run(_bridge.set, _Bridge(loop, lock))
    return await loop.run_in_executor(_executor(), context.run, _locked, lock, func, args)


def _locked(lock: threading.Lock | None, func: Callable[..., T], args: tuple) -> T:
    if lock is None:
        return func(*args)
    with lock:
        return func(*args)


def can_run_sync() -> bool:
    """Whether `run_sync` may block here (Pyodide's `pyodide.ffi.can_run_sync`)."""
    bridge = _bridge.get()
    return bridge is not None and not _on_loop_thread(bridge.loop)


def run_sync(awaitable: Awaitable[T], /) -> T:
    """Block until `awaitable` is done and return its result (Pyodide's
    `pyodide.ffi.run_sync`); only in synchronous code that edge runs in its thread pool
    (a WSGI app under `wsgi.fetch`, or `call_blocking`)."""
    if not inspect.isawaitable(awaitable):
        raise TypeError(f"run_sync() needs an awaitable, got {type(awaitable).__name__}")
    bridge = _bridge.get()
    if bridge is None or _on_loop_thread(bridge.loop):
        _discard(awaitable)
        raise RuntimeError(
            "run_sync() cannot block here: on Cloudflare JSPI suspends the stack, but edge "
            "runs Python on one event loop and this call came from synchronous code running "
            "on it. `await` the value instead; synchronous code run by wsgi.fetch (Django, "
            "Flask) may call run_sync"
        )
    future = asyncio.run_coroutine_threadsafe(_await(awaitable), bridge.loop)
    if bridge.lock is not None:
        bridge.lock.release()  # let the app's other requests run meanwhile, as JSPI would
    try:
        while True:
            try:
                return future.result(_POLL)
            except concurrent.futures.TimeoutError:
                if bridge.loop.is_closed():
                    future.cancel()
                    raise RuntimeError("run_sync(): the event loop closed while waiting") from None
    finally:
        if bridge.lock is not None:
            bridge.lock.acquire()


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _discard(awaitable: Any) -> None:
    # a coroutine never awaited would warn "was never awaited" on top of our error
    close = getattr(awaitable, "close", None)
    if inspect.iscoroutine(awaitable) and close is not None:
        close()
