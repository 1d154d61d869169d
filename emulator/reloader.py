"""Watch the worker's sources, its config file and `.dev.vars`; report each batch of changes.

watchfiles (Rust `notify`: inotify on Linux) delivers events as they happen; `step` and
`debounce` are tuned low so a saved file reaches `on_change` in tens of milliseconds,
while an editor's write-then-rename still arrives as one batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchfiles import Change

log = logging.getLogger("edge.reloader")

#: folders never watched: tooling state, caches, virtualenvs.
IGNORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".wrangler",
        "__pycache__",
        ".venv",
        "venv",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
    }
)

#: suffixes of the worker's own sources (Python modules; Cloudflare Python Workers also
#: ship data files, but only modules change what the loader imports).
SOURCE_SUFFIXES = (".py",)

OnChange = Callable[[set[Path]], Awaitable[None]]


class WatchFilter:
    """Accepts Python files under `folder` (outside ignored dirs) and the exact `files`."""

    def __init__(self, folder: Path, files: Iterable[Path] = ()) -> None:
        self.folder = folder.resolve()
        self.files = {Path(f).resolve() for f in files}

    def __call__(self, change: Change, path: str) -> bool:
        p = Path(path)
        if p in self.files:
            return True
        if not path.endswith(SOURCE_SUFFIXES):
            return False
        try:
            relative = p.relative_to(self.folder)
        except ValueError:
            return False
        return not any(part in IGNORED_DIRS or part.startswith(".") for part in relative.parts[:-1])


class Reloader:
    """Calls `await on_change(paths)` once per batch of relevant changes until stopped.

    `files` may name files that do not exist yet (a `.dev.vars` created later): their
    folder is watched instead.
    """

    def __init__(
        self,
        folder: Path,
        on_change: OnChange,
        *,
        files: Iterable[Path] = (),
        debounce_ms: int = 50,
        step_ms: int = 10,
    ) -> None:
        self.folder = Path(folder).resolve()
        self.files = [Path(f).resolve() for f in files]
        self.on_change = on_change
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.filter = WatchFilter(self.folder, self.files)
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()

    def set_files(self, files: Iterable[Path]) -> None:
        """Follow a new set of exact files (e.g. after `--env` secrets moved)."""
        self.files = [Path(f).resolve() for f in files]
        self.filter.files = set(self.files)

    def extra_roots(self) -> list[Path]:
        """Folders of exact files outside `folder` (e.g. `wrangler.toml` above `src/`),
        watched non-recursively so a big project root (`.venv`, `python_modules`) is not
        crawled."""
        return sorted(
            {
                f.parent
                for f in self.files
                if not f.is_relative_to(self.folder) and f.parent.is_dir()
            }
        )

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        watches = [self._watch([self.folder], recursive=True)]
        extra = self.extra_roots()
        if extra:
            watches.append(self._watch(extra, recursive=False))
        await asyncio.gather(*watches)

    async def _watch(self, roots: list[Path], *, recursive: bool) -> None:
        from watchfiles import awatch  # imported once serving has started: cold start

        watcher = awatch(
            *roots,
            watch_filter=self.filter,
            debounce=self.debounce_ms,
            step=self.step_ms,
            stop_event=self._stop,
            # how often the Rust side checks stop_event; change latency does not depend on it
            rust_timeout=500,
            yield_on_timeout=True,
            recursive=recursive,
        )
        async for changes in watcher:
            if self._stop.is_set():
                break
            if not changes:
                continue
            async with self._lock:
                try:
                    await self.on_change({Path(path) for _, path in changes})
                except Exception:  # a failing callback must not end the watch
                    log.exception("reload callback failed")
