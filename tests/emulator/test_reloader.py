"""The file watcher: which files count, and that a save reaches the callback."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from watchfiles import Change

from emulator.reloader import Reloader, WatchFilter


def test_filter_accepts_sources_and_exact_files_only(tmp_path: Path):
    src = tmp_path / "src"
    config = tmp_path / "wrangler.toml"
    f = WatchFilter(src, [config, tmp_path / ".dev.vars"])
    assert f(Change.modified, str(src / "entry.py"))
    assert f(Change.added, str(src / "pkg" / "helpers.py"))
    assert f(Change.modified, str(config))
    assert f(Change.added, str(tmp_path / ".dev.vars"))
    assert not f(Change.modified, str(src / "notes.txt"))
    assert not f(Change.modified, str(src / "__pycache__" / "entry.cpython-311.py"))
    assert not f(Change.modified, str(src / ".venv" / "lib" / "x.py"))
    assert not f(Change.modified, str(src / "node_modules" / "x.py"))
    assert not f(Change.modified, str(tmp_path / "other.py"))  # outside the source folder


def test_files_outside_the_folder_are_watched_non_recursively(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()

    async def noop(paths):
        return None

    reloader = Reloader(src, noop, files=[tmp_path / "wrangler.toml", src / "x.py"])
    assert reloader.extra_roots() == [tmp_path]
    reloader.set_files([src / "x.py"])
    assert reloader.extra_roots() == []


async def _saves_until_seen(write, seen: asyncio.Queue, attempts: int = 20) -> set[Path]:
    # The watcher starts in a background thread; keep saving (bounded) until it reports.
    for _ in range(attempts):
        write()
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(seen.get(), timeout=0.5)
    raise AssertionError("the change was never reported")


async def test_a_save_reaches_the_callback_and_stop_ends_the_watch(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    entry = src / "entry.py"
    entry.write_text("x = 0\n")
    config = tmp_path / "wrangler.toml"
    config.write_text("name = 'w'\n")
    seen: asyncio.Queue = asyncio.Queue()

    async def on_change(paths):
        await seen.put(paths)

    reloader = Reloader(src, on_change, files=[config])
    task = asyncio.create_task(reloader.run())
    try:
        counter = iter(range(100))
        paths = await _saves_until_seen(lambda: entry.write_text(f"x = {next(counter)}\n"), seen)
        assert entry.resolve() in {p.resolve() for p in paths}

        (src / "notes.txt").write_text("ignored")
        config.write_text("name = 'w2'\n")  # outside src/: watched through its own folder
        batches = []
        while not any(config.resolve() in b for b in batches) and len(batches) < 10:
            paths = await asyncio.wait_for(seen.get(), timeout=5)
            batches.append({p.resolve() for p in paths})
        assert any(config.resolve() in b for b in batches)
        assert all((src / "notes.txt").resolve() not in b for b in batches)
    finally:
        reloader.stop()
        await asyncio.wait_for(task, timeout=5)
    assert task.done() and task.exception() is None


async def test_a_failing_callback_does_not_end_the_watch(tmp_path: Path):
    entry = tmp_path / "entry.py"
    entry.write_text("x = 0\n")
    seen: asyncio.Queue = asyncio.Queue()
    calls = 0

    async def on_change(paths):
        nonlocal calls
        calls += 1
        await seen.put(paths)
        if calls == 1:
            raise RuntimeError("reload blew up")

    reloader = Reloader(tmp_path, on_change)
    task = asyncio.create_task(reloader.run())
    try:
        counter = iter(range(100))
        await _saves_until_seen(lambda: entry.write_text(f"x = {next(counter)}\n"), seen)
        entry.write_text("x = 'again'\n")
        await asyncio.wait_for(seen.get(), timeout=5)
        assert calls >= 2
    finally:
        reloader.stop()
        await asyncio.wait_for(task, timeout=5)
