"""`edge models list` and `edge models show`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bindings.ai.catalogue import ENTRIES_DIR, load_catalogue
from emulator.cli import main

FP16 = "@cf/meta/llama-2-7b-chat-fp16"
AWQ = "@hf/thebloke/llama-2-13b-chat-awq"


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(main, ["models", *args], catch_exceptions=False)


def test_list_shows_every_model(runner):
    result = invoke(runner, "list")
    assert result.exit_code == 0
    for entry in load_catalogue().entries():
        line = next(line for line in result.stdout.splitlines() if entry.name in line)
        assert entry.task_name in line and entry.author in line


def test_list_json_is_search_records(runner):
    result = invoke(runner, "list", "--json")
    records = json.loads(result.stdout)
    assert [r["name"] for r in records] == [e.name for e in load_catalogue().entries()]
    assert {"id", "source", "name", "description", "task", "tags", "properties"} == set(records[0])


def names(runner, *args):
    return [r["name"] for r in json.loads(invoke(runner, "list", "--json", *args).stdout)]


def test_list_filters(runner):
    thebloke = names(runner, "--author", "thebloke")
    assert AWQ in thebloke and all(n.split("/")[1] == "thebloke" for n in thebloke)
    meta = names(runner, "--author", "META")
    assert FP16 in meta and AWQ not in meta and all(n.split("/")[1] == "meta" for n in meta)
    assert names(runner, "--search", "fp16") == [FP16]
    generation = names(runner, "--task", "text-generation")
    assert len(generation) == 71 and "@cf/baai/bge-m3" not in generation
    awq = names(runner, "--task", "Text Generation", "--search", "awq")
    assert AWQ in awq and FP16 not in awq and len(awq) == 13
    assert names(runner, "--task", "Text Embeddings", "--search", "awq") == []
    assert names(runner, "--search", "nothing like this") == []
    catalogue = load_catalogue()
    partners = names(runner, "--source", "2")
    assert partners and partners == [e.name for e in catalogue if e.source == 2]
    speech = names(runner, "--task", "automatic-speech-recognition", "--hide-experimental")
    assert speech == [e.name for e in catalogue.matching(task="Automatic Speech Recognition")]


def test_list_with_no_match_says_so(runner):
    result = invoke(runner, "list", "--search", "nothing like this")
    assert result.exit_code == 1
    assert "No model matches" in result.stderr


def test_show_prints_details_and_every_parameter(runner):
    result = invoke(runner, "show", FP16)
    assert result.exit_code == 0
    out = result.stdout
    assert FP16 in out and "Full precision (fp16)" in out
    assert "https://ai.meta.com/llama/" in out
    schema = load_catalogue().get(FP16).input_schema
    for branch in schema["oneOf"]:
        for name in branch["properties"]:
            assert re.search(rf"\b{name}\b", out), name
    assert "Prompt object" in out and "Messages object" in out
    assert re.search(r"temperature number\s+min 0\s+max 5", out)


def test_show_schema_and_json(runner):
    entry = load_catalogue().get(AWQ)
    schema = json.loads(invoke(runner, "show", AWQ, "--schema").stdout)
    assert schema == {"input": entry.input_schema, "output": entry.output_schema}
    record = json.loads(invoke(runner, "show", AWQ, "--json").stdout)
    assert record["name"] == AWQ
    assert record["serving"] == entry.serving.as_dict()
    assert record["serving"]["hf_repo"] == "TheBloke/Llama-2-13B-chat-AWQ"
    assert record["schema"]["input"] == entry.input_schema
    both = runner.invoke(main, ["models", "show", AWQ, "--json", "--schema"])
    assert both.exit_code == 2


def test_show_prints_the_serving_data(runner):
    out = invoke(runner, "show", "@cf/meta/llama-3.1-8b-instruct-awq").stdout
    assert "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4" in out
    assert re.search(r"engines\s+vllm, tgi, llamacpp", out)
    assert re.search(r"gpu memory\s+~4.8 GiB \(estimate\)", out)
    assert "meta-llama/Llama-3.1-8B-Instruct / tokenizer_config.json" in out


def test_show_unknown_model_suggests_names(runner):
    result = runner.invoke(main, ["models", "show", "llama-2-13b-chat"])
    assert result.exit_code == 1
    assert "5007" in result.output and AWQ in result.output


def test_extra_catalogue_folders(runner, tmp_path):
    text = (ENTRIES_DIR / "llama-2-7b-chat-fp16.md").read_text()
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "mine.md").write_text(text.replace(FP16, "@cf/me/my-model"))
    listed = invoke(runner, "list", "--json", "--catalogue", str(folder))
    assert "@cf/me/my-model" in [r["name"] for r in json.loads(listed.stdout)]
    # edge.toml beside the worker adds folders the same way
    (tmp_path / "edge.toml").write_text('[ai]\ncatalogue = ["./models"]\n')
    shown = invoke(runner, "show", "@cf/me/my-model", "--path", str(tmp_path), "--schema")
    assert json.loads(shown.stdout)["input"]["type"] == "object"


def test_broken_catalogue_entry_is_a_clear_error(runner, tmp_path):
    folder = Path(tmp_path / "bad")
    folder.mkdir()
    (folder / "broken.md").write_text("---\nmodel: [\n---\n")
    result = runner.invoke(main, ["models", "list", "--catalogue", str(folder)])
    assert result.exit_code == 1
    assert "broken.md" in result.output
