"""Workers with Durable Objects, written to tmp_path and loaded in-process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from emulator.testing import load_worker

CONFIG = """
name = "objects"
main = "entry.py"
compatibility_date = "2025-06-01"
compatibility_flags = ["python_workers"]

[[durable_objects.bindings]]
name = "OBJ"
class_name = "{cls}"

[[migrations]]
tag = "v1"
{backend} = ["{cls}"]
"""

ROUTER = """

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("router")
"""


def write_worker(folder: Path, code: str, *, cls: str = "Thing", sqlite: bool = True,
                 config: str | None = None) -> Path:  # fmt: skip
    """A worker folder: `code` (the module, plus a trivial Default if it has none)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = textwrap.dedent(code)
    if "class Default" not in source:
        source += ROUTER
    header = "from workers import DurableObject, Response, WorkerEntrypoint\n"
    (folder / "entry.py").write_text(header + source)
    backend = "new_sqlite_classes" if sqlite else "new_classes"
    (folder / "wrangler.toml").write_text(config or CONFIG.format(cls=cls, backend=backend))
    return folder


@pytest.fixture
async def worker(tmp_path):
    """`worker(code, **options)`: a loaded `TestWorker` (state in tmp_path/state unless
    `persist` says), closed after the test."""
    opened = []

    def load(code: str, *, persist: Path | None = None, folder: str = "w", **options):
        path = write_worker(tmp_path / folder, code, **options)
        loaded = load_worker(path, persist_to=persist or tmp_path / "state")
        opened.append(loaded)
        return loaded

    yield load
    for loaded in opened:
        await loaded.close()
