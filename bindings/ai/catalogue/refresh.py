"""Refresh the shipped records from Cloudflare's published ones: a maintainer's step, run by
hand (`edge models refresh --from DIR`), never at run time and never over the network.

`source` is a folder of published records: `src/content/workers-ai-models/` of a
`cloudflare/cloudflare-docs` checkout, or a reference copy with its own `INDEX.tsv`
(columns `file name task source_commit chars transcription`, as in
`../shared/reference/workers-ai-models/`). Every record is parsed and its schemas checked
before anything is written; then the destination mirrors the source (files copied
byte-for-byte, files gone from the source removed) and its `INDEX.tsv` is rewritten
(`bindings.ai.catalogue.records.INDEX_COLUMNS`):

- `source_commit`: the reference index's column, else the last commit of the file in
  the source's git checkout (`git log -1`), else `unknown`;
- `status`: `published` for a file copied whole (a checkout; `full` in a reference index),
  `assembled` for a reference copy transcribed in parts, `verified` once re-checked.

`verified` is a folder of re-checked copies (`<file>.json`) and their logs (`LOG*.tsv`,
one row per file: the file name first, `verified` or `corrected` among the fields): a
logged copy replaces the source's file and is marked `verified`.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bindings.ai.catalogue.errors import CatalogueError
from bindings.ai.catalogue.markdown import read_text
from bindings.ai.catalogue.records import (
    INDEX_FILE,
    RECORDS_DIR,
    IndexRow,
    record_entry,
    write_index,
)

_CHECKED = frozenset({"verified", "corrected"})


@dataclass
class RefreshReport:
    """What a refresh changed, by file name."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.removed)} removed, {len(self.unchanged)} unchanged; "
                f"{len(self.verified)} from re-checked copies")


def refresh(source: Path, dest: Path = RECORDS_DIR, *, verified: Path | None = None,
            dry_run: bool = False) -> RefreshReport:
    """Mirror `source`'s records into `dest` (see the module docstring)."""
    source, dest = Path(source), Path(dest)
    files = sorted(source.glob("*.json"))
    if not files:
        raise CatalogueError(source, "folder", "holds no *.json catalogue records")
    reference = _reference_index(source)
    checked = _checked_copies(verified) if verified else {}
    rows, chosen = [], {}
    for file in files:
        path = checked.get(file.name, file)
        entry = record_entry(path)  # parses and checks: nothing is written if one fails
        commit, transcription = reference.get(file.name, (None, None))
        status = "verified" if file.name in checked else (
            "assembled" if transcription == "assembled" else "published")
        rows.append(IndexRow(file.name, entry.name, entry.task_name,
                             commit or _git_commit(file) or "unknown",
                             len(read_text(path)), status))
        chosen[file.name] = path
    report = RefreshReport(verified=sorted(checked.keys() & chosen.keys()))
    existing = {p.name for p in dest.glob("*.json")} if dest.is_dir() else set()
    for name, path in chosen.items():
        target = dest / name
        if name not in existing:
            report.added.append(name)
        elif target.read_bytes() != path.read_bytes():
            report.updated.append(name)
        else:
            report.unchanged.append(name)
            continue
        if not dry_run:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    report.removed = sorted(existing - chosen.keys())
    if not dry_run:
        for name in report.removed:
            (dest / name).unlink()
        write_index(dest, rows)
    return report


def _reference_index(source: Path) -> dict[str, tuple[str, str]]:
    """file -> (source_commit, transcription) from a reference copy's INDEX.tsv, if any."""
    path = source / INDEX_FILE
    if not path.is_file():
        return {}
    rows = list(csv.DictReader(read_text(path).splitlines(), delimiter="\t"))
    if rows and not {"file", "source_commit"} <= set(rows[0]):
        raise CatalogueError(path, "header", "must name at least file and source_commit")
    return {r["file"]: (r["source_commit"], r.get("transcription") or "full") for r in rows}


def _checked_copies(folder: Path) -> dict[str, Path]:
    """file -> its re-checked copy, for each file a LOG*.tsv row marks verified/corrected."""
    out: dict[str, Path] = {}
    for log in sorted(Path(folder).glob("LOG*.tsv")):
        for row in csv.reader(read_text(log).splitlines(), delimiter="\t"):
            if not row or not _CHECKED & {cell.strip() for cell in row[1:]}:
                continue
            copy = Path(folder) / row[0]
            if not copy.is_file():
                raise CatalogueError(log, row[0], f"is logged as re-checked but {copy} is missing")
            out[row[0]] = copy
    return out


def _git_commit(file: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(file.parent), "log", "-1", "--format=%H", "--", file.name],
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None
