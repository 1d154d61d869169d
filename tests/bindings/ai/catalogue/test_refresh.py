"""Refreshing the shipped records from a folder of published ones (and the CLI over it)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from bindings.ai.catalogue import RECORDS_DIR, CatalogueError
from bindings.ai.catalogue.records import read_index
from bindings.ai.catalogue.refresh import refresh
from emulator.cli import main

FILES = ("bge-m3.json", "llama-3.1-8b-instruct.json", "whisper.json")
COMMIT = "a" * 40


@pytest.fixture
def source(tmp_path):
    """A reference-style copy of three records, with its INDEX.tsv."""
    folder = tmp_path / "source"
    folder.mkdir()
    rows = ["file\tname\ttask\tsource_commit\tchars\ttranscription"]
    for file in FILES:
        shutil.copyfile(RECORDS_DIR / file, folder / file)
        record = json.loads((folder / file).read_text())
        kind = "assembled" if file.startswith("llama") else "full"
        rows.append(f"{file}\t{record['name']}\t{record['task']['name']}\t{COMMIT}\t0\t{kind}")
    (folder / "INDEX.tsv").write_text("\n".join(rows) + "\n")
    return folder


def test_refresh_copies_verbatim_and_writes_the_index(source, tmp_path):
    dest = tmp_path / "records"
    report = refresh(source, dest)
    assert report.added == list(FILES) and not report.updated and not report.removed
    for file in FILES:
        assert (dest / file).read_bytes() == (source / file).read_bytes()
    rows = {row.file: row for row in read_index(dest)}
    assert rows["bge-m3.json"].status == "published"
    assert rows["llama-3.1-8b-instruct.json"].status == "assembled"
    assert rows["whisper.json"].source_commit == COMMIT
    assert rows["whisper.json"].chars == len((source / "whisper.json").read_text())
    assert rows["bge-m3.json"].name == "@cf/baai/bge-m3"


def test_a_second_refresh_mirrors_the_source(source, tmp_path):
    dest = tmp_path / "records"
    refresh(source, dest)
    (source / "whisper.json").unlink()
    text = (source / "bge-m3.json").read_text().replace("Multi-Functionality", "Multi-function")
    (source / "bge-m3.json").write_text(text)
    report = refresh(source, dest)
    assert (report.updated, report.removed) == (["bge-m3.json"], ["whisper.json"])
    assert report.unchanged == ["llama-3.1-8b-instruct.json"]
    assert not (dest / "whisper.json").exists()
    assert {row.file for row in read_index(dest)} == {"bge-m3.json", "llama-3.1-8b-instruct.json"}


def test_a_dry_run_writes_nothing(source, tmp_path):
    report = refresh(source, tmp_path / "records", dry_run=True)
    assert len(report.added) == 3 and not (tmp_path / "records").exists()


def test_rechecked_copies_replace_the_source_and_are_marked_verified(source, tmp_path):
    checked = tmp_path / "verified"
    checked.mkdir()
    original = (source / "llama-3.1-8b-instruct.json").read_text()
    copy = original.replace('"default": 256', '"default": 255')
    (checked / "llama-3.1-8b-instruct.json").write_text(copy)
    (checked / "LOG-1.tsv").write_text(
        f"llama-3.1-8b-instruct.json\t{COMMIT}\t2\t151\tcorrected\tmax_tokens default\n"
        f"whisper.json\t{COMMIT}\t1\t10\tskipped\tnot in my group\n")
    dest = tmp_path / "records"
    report = refresh(source, dest, verified=checked)
    assert report.verified == ["llama-3.1-8b-instruct.json"]
    assert (dest / "llama-3.1-8b-instruct.json").read_text() == copy
    rows = {row.file: row for row in read_index(dest)}
    assert rows["llama-3.1-8b-instruct.json"].status == "verified"
    assert rows["whisper.json"].status == "published"
    (checked / "llama-3.1-8b-instruct.json").unlink()
    with pytest.raises(CatalogueError, match=r"logged as re-checked but .* is missing"):
        refresh(source, dest, verified=checked)


def test_a_bad_record_stops_the_refresh_before_anything_is_written(source, tmp_path):
    (source / "broken.json").write_text('{"name": "@cf/x/y", "schema": {"input": {"type": 7}}}')
    dest = tmp_path / "records"
    with pytest.raises(CatalogueError, match=r"broken\.json: schema\.input is not a valid"):
        refresh(source, dest)
    assert not dest.exists()


def test_without_a_reference_index_the_commit_comes_from_git(tmp_path):
    folder = tmp_path / "cloudflare-docs"
    folder.mkdir()
    shutil.copyfile(RECORDS_DIR / "bge-m3.json", folder / "bge-m3.json")
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t"]
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "records"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    refresh(folder, tmp_path / "records")
    (row,) = read_index(tmp_path / "records")
    assert (row.source_commit, row.status) == (head, "published")


def test_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(CatalogueError, match=r"holds no \*\.json catalogue records"):
        refresh(tmp_path, tmp_path / "records")


def test_the_cli_refreshes_and_reports(source, tmp_path):
    dest = tmp_path / "records"
    result = CliRunner().invoke(main, ["models", "refresh", "--from", str(source),
                                       "--to", str(dest)])
    assert result.exit_code == 0, result.output
    assert "3 added, 0 updated, 0 removed, 0 unchanged" in result.output
    assert "  added    whisper.json" in result.output
    (source / "whisper.json").write_text("{")
    failed = CliRunner().invoke(main, ["models", "refresh", "--from", str(source),
                                       "--to", str(dest)])
    assert failed.exit_code == 1
    assert "whisper.json: file is not valid JSON" in failed.output
    assert "(nothing was written)" in failed.output
