"""The model catalogue: which models `env.AI.run` knows, their schemas and how to serve them.

Entries are Markdown files with Cloudflare's YAML frontmatter, verbatim, plus edge's own
serving block (see `bindings.ai.catalogue.entry`). The shipped entries live in
`entries/`; `load_catalogue(extra_dirs)` adds the `*.md` files of the user's folders (or
single files), in order: an entry with the same `model.name` as an earlier one replaces
it (`entry.overrides` names the file it replaced). Two files with the same name in one
folder are an error, as is any malformed entry (`CatalogueError` names file and field).

`Catalogue.search(...)` answers Cloudflare's `GET /accounts/{id}/ai/models/search`
(params `search`, `task`, `author`, `source`, `hide_experimental`, `page`, `per_page`;
records shaped like workers-types' `AiModelsSearchObject`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bindings.ai.catalogue.entry import (
    CatalogueEntry,
    CatalogueError,
    GgufInfo,
    ServingInfo,
    parse_entry,
)
from bindings.ai.errors import no_such_model

__all__ = [
    "SHIPPED_DIR",
    "Catalogue",
    "CatalogueEntry",
    "CatalogueError",
    "GgufInfo",
    "SearchPage",
    "ServingInfo",
    "load_catalogue",
    "parse_entry",
]

SHIPPED_DIR = Path(__file__).parent / "entries"


@dataclass(frozen=True)
class SearchPage:
    """One page of search results, with Cloudflare's `result_info` numbers."""

    records: list[dict[str, Any]]
    page: int
    per_page: int
    total_count: int

    def result_info(self) -> dict[str, int]:
        return {"page": self.page, "per_page": self.per_page,
                "count": len(self.records), "total_count": self.total_count}


class Catalogue:
    """Models by name, in load order."""

    def __init__(self, entries: Iterable[CatalogueEntry] = ()) -> None:
        self._entries: dict[str, CatalogueEntry] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: CatalogueEntry) -> None:
        """Add an entry; one with the same name is replaced in place (noted in `overrides`)."""
        previous = self._entries.get(entry.name)
        if previous is not None:
            entry.overrides = previous.path
        self._entries[entry.name] = entry

    def get(self, name: str) -> CatalogueEntry:
        """The entry for `name`; `AiError` 5007 ("No such model ...") if unknown."""
        entry = self._entries.get(name) if isinstance(name, str) else None
        if entry is None:
            raise no_such_model(name)
        return entry

    def entries(self) -> list[CatalogueEntry]:
        return list(self._entries.values())

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[CatalogueEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def matching(self, search: str | None = None, task: str | None = None,
                 author: str | None = None, source: int | None = None,
                 hide_experimental: bool = False) -> list[CatalogueEntry]:
        """Entries passing every given filter (case-insensitive; `search` is a substring
        of the name or description, `task` a task name or `task_type` slug)."""
        needle = search.lower() if search else None
        task_key = task.lower() if task else None
        author_key = author.lower() if author else None
        out = []
        for entry in self._entries.values():
            text = f"{entry.name}\n{entry.description}".lower()
            if needle and needle not in text:
                continue
            if task_key and task_key not in (entry.task_name.lower(), entry.task_type.lower()):
                continue
            if author_key and author_key != entry.author.lower():
                continue
            if source is not None and entry.source != source:
                continue
            if hide_experimental and (entry.property("experimental") or "").lower() == "true":
                continue
            out.append(entry)
        return out

    def search_page(self, search: str | None = None, task: str | None = None,
                    author: str | None = None, page: int = 1, per_page: int = 50, *,
                    source: int | None = None, hide_experimental: bool = False) -> SearchPage:
        """A page of `/ai/models/search` records; `ValueError` for page or per_page < 1."""
        if page < 1 or per_page < 1:
            raise ValueError(f"page and per_page must be >= 1, not {page} and {per_page}")
        found = self.matching(search, task, author, source, hide_experimental)
        start = (page - 1) * per_page
        records = [entry.search_record() for entry in found[start : start + per_page]]
        return SearchPage(records, page, per_page, len(found))

    def search(self, search: str | None = None, task: str | None = None,
               author: str | None = None, page: int = 1, per_page: int = 50, *,
               source: int | None = None, hide_experimental: bool = False) -> list[dict[str, Any]]:
        """The records of `search_page(...)`."""
        return self.search_page(search, task, author, page, per_page, source=source,
                                hide_experimental=hide_experimental).records


def _entry_files(location: Path) -> list[Path]:
    if location.is_file():
        return [location]
    if location.is_dir():
        return sorted(location.glob("*.md"))
    raise CatalogueError(location, "catalogue folder", "does not exist")


def load_catalogue(extra_dirs: Iterable[Path | str] = ()) -> Catalogue:
    """The shipped entries, then each extra folder's (or file's) entries, later ones winning."""
    catalogue = Catalogue()
    for location in [SHIPPED_DIR, *(Path(d) for d in extra_dirs)]:
        seen: dict[str, Path] = {}
        for file in _entry_files(location):
            entry = parse_entry(file)
            if entry.name in seen:
                raise CatalogueError(file, "model.name",
                                     f"{entry.name!r} is also defined in {seen[entry.name]}")
            seen[entry.name] = file
            catalogue.add(entry)
    return catalogue
