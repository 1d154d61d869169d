"""The model catalogue: which models `env.AI.run` knows, their schemas and how to serve them.

Three layers, later ones winning by model name (`entry.overrides` names the file an
entry replaced):

1. `records/`: Cloudflare's published catalogue records, one JSON file per model,
   byte-for-byte (`bindings.ai.catalogue.records`); indexed by `records/INDEX.tsv`,
   parsed on first use.
2. `entries/`: the two seed models as Markdown entries (Cloudflare's frontmatter
   verbatim plus edge's serving block; `bindings.ai.catalogue.markdown`). The design
   takes "the seeds' frontmatter for the two seed models; the reference for the rest",
   so these replace the records of the same names (whose schemas are newer: a 131072
   `prompt` limit, `tools`, `lora`).
3. the user's folders (or single files), in order: `*.md` entries and `*.json` records,
   parsed and checked when loaded.

Two files with the same model name in one folder are an error (except published records,
see `records.pick`), as is any malformed file (`CatalogueError` names file and field).
Serving data: `entry.serving` (`bindings.ai.catalogue.serving`).

`Catalogue.search(...)` answers Cloudflare's `GET /accounts/{id}/ai/models/search`
(params `search`, `task`, `author`, `source`, `hide_experimental`, `page`, `per_page`;
records shaped like workers-types' `AiModelsSearchObject`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bindings.ai.catalogue.entry import CatalogueEntry
from bindings.ai.catalogue.errors import CatalogueError
from bindings.ai.catalogue.markdown import parse_markdown
from bindings.ai.catalogue.records import RECORDS_DIR, pick, read_index, record_entry
from bindings.ai.catalogue.serving import HubFile, ServingInfo
from bindings.ai.errors import no_such_model

__all__ = [
    "ENTRIES_DIR",
    "RECORDS_DIR",
    "Catalogue",
    "CatalogueEntry",
    "CatalogueError",
    "HubFile",
    "SearchPage",
    "ServingInfo",
    "load_catalogue",
    "parse_markdown",
]

ENTRIES_DIR = Path(__file__).parent / "entries"


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
        #: record files not served because another file carries the same name.
        self.shadowed: list[Path] = []
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
            # Name, task and author come from the index; the rest parses the record.
            if task_key and task_key not in (entry.task_name.lower(), entry.task_type.lower()):
                continue
            if author_key and author_key != entry.author.lower():
                continue
            if needle and needle not in f"{entry.name}\n{entry.description}".lower():
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


def load_catalogue(extra_dirs: Iterable[Path | str] = ()) -> Catalogue:
    """The shipped records, the seed entries, then each extra folder's (or file's) entries."""
    catalogue = Catalogue()
    rows = read_index(RECORDS_DIR)
    by_name: dict[str, list[Path]] = {}
    for row in rows:
        by_name.setdefault(row.name, []).append(RECORDS_DIR / row.file)
    for row in rows:
        path = RECORDS_DIR / row.file
        files = by_name[row.name]
        if len(files) > 1:
            winner, _ = pick(row.name, files)
            if path != winner:
                catalogue.shadowed.append(path)
                continue
        catalogue.add(record_entry(path, row))
    for location in [ENTRIES_DIR, *(Path(d) for d in extra_dirs)]:
        for entry in _folder_entries(location, catalogue):
            catalogue.add(entry)
    return catalogue


def _folder_entries(location: Path, catalogue: Catalogue) -> list[CatalogueEntry]:
    """The entries of one folder (or file), checked; same-named files are an error."""
    if location.is_file():
        files = [location]
    elif location.is_dir():
        files = sorted([*location.glob("*.md"), *location.glob("*.json")])
    else:
        raise CatalogueError(location, "catalogue folder", "does not exist")
    entries: dict[str, list[CatalogueEntry]] = {}
    for file in files:
        entry = parse_markdown(file) if file.suffix == ".md" else record_entry(file)
        same = entries.setdefault(entry.name, [])
        if same and (file.suffix == ".md" or same[0].path.suffix == ".md"):
            raise CatalogueError(file, "model.name" if file.suffix == ".md" else "name",
                                 f"{entry.name!r} is also defined in {same[0].path}")
        same.append(entry)
    out = []
    for name, same in entries.items():
        if len(same) > 1:
            winner, shadowed = pick(name, [e.path for e in same])
            catalogue.shadowed.extend(shadowed)
            same = [e for e in same if e.path == winner]
        out.append(same[0])
    return out
