"""The one error of the catalogue: a malformed entry, record or family file."""

from __future__ import annotations

from pathlib import Path

from emulator.errors import EdgeError


class CatalogueError(EdgeError, ValueError):
    """A malformed catalogue file: `str()` is `"<file>: <field> <problem>"`."""

    def __init__(self, path: Path | str, field_name: str, problem: str) -> None:
        self.path, self.field = Path(path), field_name
        super().__init__(f"{path}: {field_name} {problem}".rstrip())
