"""Cloudflare's published catalogue records: one JSON file per model, shipped verbatim.

The format of `cloudflare/cloudflare-docs` `src/content/workers-ai-models/<file>.json`:
an object with `id`, `source`, `name`, `description`, `task` (`id`, `name`,
`description`), `tags`, `properties` and, for nearly every model, `schema` (`input`,
`output`: JSON Schemas as objects); some also carry `created_at` or `deprecated`. Key
order and layout vary between files and are kept as published: edge never rewrites a
record (its serving data is in `families/`).

The shipped folder `records/` has an `INDEX.tsv`, written by `refresh` (columns:
`INDEX_COLUMNS`), which loading reads instead of the records: a record's file is parsed
the first time one of its fields is used, its schema checked when first asked for. Users'
folders of records have no index: they are parsed and checked whole when loaded.

Two published files can carry the same model name (the docs repository holds both
`qwen.json` and `qwen1.5-0.5b-chat.json` for `@cf/qwen/qwen1.5-0.5b-chat`): the file
named after the model (`qwen1.5-0.5b-chat.json`) wins, the other is shadowed
(`Catalogue.shadowed`). Same-named files of which none, or several, are so named are an
error.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bindings.ai.catalogue.entry import CatalogueEntry, Published, model_string
from bindings.ai.catalogue.errors import CatalogueError
from bindings.ai.catalogue.markdown import read_text

RECORDS_DIR = Path(__file__).parent / "records"
INDEX_FILE = "INDEX.tsv"
INDEX_COLUMNS = ("file", "name", "task", "source_commit", "chars", "status")

#: `status` values: how faithful the shipped copy is known to be.
STATUSES = {
    "published": "copied whole from the published file",
    "assembled": "transcribed in parts; not yet re-checked against the published file",
    "verified": "transcribed in parts, then re-checked against the published file",
}


@dataclass(frozen=True)
class IndexRow:
    """One line of `INDEX.tsv`: a record file and where it came from."""

    file: str
    name: str
    task: str
    source_commit: str
    chars: int
    status: str


def read_index(folder: Path) -> list[IndexRow]:
    """The rows of `folder/INDEX.tsv`; `CatalogueError` naming the line if one is malformed."""
    path = folder / INDEX_FILE
    text = read_text(path)
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))
    if not rows or tuple(rows[0]) != INDEX_COLUMNS:
        raise CatalogueError(path, "header", f"must be {' '.join(INDEX_COLUMNS)}")
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(INDEX_COLUMNS) or not row[4].isdigit() or row[5] not in STATUSES:
            raise CatalogueError(path, f"line {number}", f"is malformed: {row!r}")
        out.append(IndexRow(row[0], row[1], row[2], row[3], int(row[4]), row[5]))
    return out


def write_index(folder: Path, rows: Iterable[IndexRow]) -> None:
    lines = ["\t".join(INDEX_COLUMNS)]
    for row in sorted(rows, key=lambda r: r.file):
        lines.append("\t".join([row.file, row.name, row.task, row.source_commit,
                                str(row.chars), row.status]))
    (folder / INDEX_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_record(path: Path, text: str | None = None) -> Published:
    """Parse one record file (shape only; schemas are checked by the entry)."""
    if text is None:
        text = read_text(path)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogueError(path, "file", f"is not valid JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise CatalogueError(path, "file", "must hold a JSON object (a catalogue record)")
    model_string(path, record, "name", "name", required=True)
    schemas = record.get("schema")
    if schemas is None:
        schemas = {}
    elif not isinstance(schemas, dict):
        raise CatalogueError(path, "schema", "must be an object with 'input' and 'output'")
    return Published(document=record, model=record, schemas=schemas, schema_key="schema",
                     schema_required=False)


def record_entry(path: Path, row: IndexRow | None = None) -> CatalogueEntry:
    """An entry for a record file: lazy when its index row is known, else parsed now."""
    if row is not None:
        return CatalogueEntry(row.name, path, row.task, lambda: load_record(path))
    published = load_record(path)
    task = published.model.get("task")
    task_name = task.get("name") if isinstance(task, dict) else None
    entry = CatalogueEntry(published.model["name"], path, str(task_name or ""),
                           lambda: published)
    return entry.check()


def pick(name: str, files: list[Path]) -> tuple[Path, list[Path]]:
    """(winner, shadowed) among record files carrying the same model `name`."""
    own = [f for f in files if f.stem == name.rsplit("/", 1)[-1]]
    if len(own) != 1:
        others = ", ".join(f.name for f in files)
        raise CatalogueError(files[-1], "name", f"{name!r} is carried by several files ({others})"
                             " and exactly one must be named after the model")
    return own[0], [f for f in files if f != own[0]]
