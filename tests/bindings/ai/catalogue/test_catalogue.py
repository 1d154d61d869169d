"""The catalogue: records, seeds over records, user overrides, errors, search."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from bindings.ai.catalogue import (
    ENTRIES_DIR,
    RECORDS_DIR,
    Catalogue,
    CatalogueError,
    load_catalogue,
)
from bindings.ai.catalogue.markdown import split_frontmatter
from bindings.ai.catalogue.records import read_index
from bindings.ai.catalogue.serving import load_family
from bindings.ai.errors import AiError

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
FP16 = "@cf/meta/llama-2-7b-chat-fp16"
SEEDS = Path("/work/shared/seeds")
SCHEMA = json.dumps({"type": "object", "properties": {"prompt": {"type": "string"}},
                     "required": ["prompt"]})


def write_entry(folder: Path, filename: str, name: str, *, extra: str = "",
                body: str = "", schema: str | None = None) -> Path:
    front = {
        "model": {"id": "11111111-2222-3333-4444-555555555555", "source": 1, "name": name,
                  "description": f"user model {name}",
                  "task": {"id": "t1", "name": "Text Generation", "description": "gen"},
                  "tags": [], "properties": [{"property_id": "beta", "value": "true"}]},
        "task_type": "text-generation",
        "json_schema": {"input": schema if schema is not None else SCHEMA, "output": "{}"},
    }
    path = folder / filename
    path.write_text("---\n" + yaml.safe_dump(front) + extra + "---\n" + body, encoding="utf-8")
    return path


# -- shipped entries ----------------------------------------------------------------------
CATALOGUE = load_catalogue()
SEED_NAMES = [AWQ, FP16]


def test_ships_every_record_once_and_both_seeds():
    rows = read_index(RECORDS_DIR)
    assert len(rows) == 112
    names = {row.name for row in rows}
    assert set(CATALOGUE.names()) == names and len(CATALOGUE) == len(names) == 111
    assert [p.name for p in CATALOGUE.shadowed] == ["qwen.json"]
    awq = CATALOGUE.get(AWQ)
    assert awq.id == "85c5a3c6-24b0-45e7-b23a-023182578822" and awq.source == 2
    assert awq.task_name == "Text Generation" and awq.author == "thebloke"
    assert CATALOGUE.get(FP16).author == "meta"
    assert awq.output_schema["oneOf"][1]["contentType"] == "text/event-stream"


def test_seeds_override_the_records_of_their_names():
    for name, file in ((AWQ, "llama-2-13b-chat-awq"), (FP16, "llama-2-7b-chat-fp16")):
        entry = CATALOGUE.get(name)
        assert entry.path == ENTRIES_DIR / f"{file}.md"
        assert entry.overrides == RECORDS_DIR / f"{file}.json"
    # the seed's schema, not the record's newer one (4096 there, 131072 in the record)
    awq = CATALOGUE.get(AWQ).input_schema["oneOf"][0]["properties"]["prompt"]
    record = json.loads((RECORDS_DIR / "llama-2-13b-chat-awq.json").read_text())
    assert awq["maxLength"] == 4096
    assert record["schema"]["input"]["oneOf"][0]["properties"]["prompt"]["maxLength"] == 131072


def test_a_user_entry_overrides_a_record(tmp_path):
    name = "@cf/meta/llama-3.1-8b-instruct"
    write_entry(tmp_path, "mine.md", name)
    entry = load_catalogue([tmp_path]).get(name)
    assert entry.description == f"user model {name}"
    assert entry.overrides == RECORDS_DIR / "llama-3.1-8b-instruct.json"
    # no serving block of its own: the shipped family data for the name still applies
    assert entry.serving.hf_repo == "meta-llama/Llama-3.1-8B-Instruct"


def test_a_user_record_adds_a_model_and_is_checked_when_loaded(tmp_path):
    record = json.loads((RECORDS_DIR / "llama-3.1-8b-instruct.json").read_text())
    record["name"] = "@cf/me/my-llama"
    (tmp_path / "my-llama.json").write_text(json.dumps(record))
    catalogue = load_catalogue([tmp_path])
    assert catalogue.get("@cf/me/my-llama").input_schema == record["schema"]["input"]
    record["schema"]["input"] = {"type": 5}
    (tmp_path / "my-llama.json").write_text(json.dumps(record))
    with pytest.raises(CatalogueError, match=r"my-llama\.json: schema\.input is not a valid"):
        load_catalogue([tmp_path])


def test_records_are_indexed_without_being_parsed(monkeypatch):
    from bindings.ai.catalogue import records

    parsed = []
    real = records.load_record
    monkeypatch.setattr(records, "load_record", lambda path, text=None: parsed.append(path)
                        or real(path, text))
    catalogue = load_catalogue()
    assert parsed == []
    assert catalogue.matching(task="Text Embeddings", author="baai")
    assert parsed == []  # name, task and author come from the index
    assert catalogue.get("@cf/baai/bge-m3").description.startswith("Multi-Functionality")
    assert [p.name for p in parsed] == ["bge-m3.json"]


@pytest.mark.parametrize(("filename", "seed"), [
    ("llama-2-13b-chat-awq.md", "000_e14cf9d2b4e1e103.txt"),
    ("llama-2-7b-chat-fp16.md", "004_4a57c0171e53249e.txt"),
])
def test_cloudflare_part_is_byte_for_byte_the_seed(filename, seed):
    shipped = (ENTRIES_DIR / filename).read_bytes()
    if not (SEEDS / seed).exists():
        pytest.skip("seed documents not on this machine")
    assert shipped.startswith((SEEDS / seed).read_bytes())


def test_serving_block_is_separate_from_the_frontmatter():
    for entry in map(CATALOGUE.get, SEED_NAMES):
        head, body = split_frontmatter(entry.path, entry.path.read_text())
        assert "edge" not in yaml.safe_load(head)
        assert "```yaml edge-serving" in body
        assert set(entry.published.document) == set(yaml.safe_load(head))


def test_serving_data_of_the_seed_models():
    awq, fp16 = CATALOGUE.get(AWQ).serving, CATALOGUE.get(FP16).serving
    assert (awq.format, awq.quantization, awq.hf_repo) == ("awq", "awq",
                                                           "TheBloke/Llama-2-13B-chat-AWQ")
    assert (fp16.quantization, fp16.hf_repo) == ("fp16", "meta-llama/Llama-2-7b-chat-hf")
    for serving in (awq, fp16):
        assert serving.prompt_format == "llama2" and serving.context_length == 4096
        assert set(serving.hf_repos) == {"pytorch", "awq", "gptq", "ggufv2"}
        assert serving.gguf.repo == serving.hf_repos["ggufv2"]
    assert awq.gguf.file == "llama-2-13b-chat.Q4_K_M.gguf"
    assert fp16.gguf.file == "llama-2-7b-chat.Q4_K_M.gguf"


def test_shipped_entries_agree_with_the_family_table():
    family = load_family("llama-2-chat")
    for entry in map(CATALOGUE.get, SEED_NAMES):
        spec = family["sizes"][entry.serving.size_b]
        assert entry.serving.hf_repos == {f: s["repo"] for f, s in spec.items() if f != "ggmlv3"}


def test_family_fills_what_an_entry_leaves_out(tmp_path):
    write_entry(tmp_path, "big.md", "@cf/me/llama-2-70b-chat",
                body="```yaml edge-serving\nfamily: llama-2-chat\nsize_b: 70\nformat: awq\n```\n")
    serving = load_catalogue([tmp_path]).get("@cf/me/llama-2-70b-chat").serving
    assert serving.hf_repo == "TheBloke/Llama-2-70B-Chat-AWQ"
    assert serving.gguf.file == "llama-2-70b-chat.Q4_K_M.gguf"
    assert (serving.prompt_format, serving.context_length) == ("llama2", 4096)


def test_entry_without_serving_block_has_empty_serving(tmp_path):
    write_entry(tmp_path, "x.md", "@cf/me/x")
    serving = load_catalogue([tmp_path]).get("@cf/me/x").serving
    assert serving.prompt_format is None and serving.hf_repos == {} and serving.gguf is None


# -- lookups and overrides ----------------------------------------------------------------
def test_unknown_model_is_5007():
    with pytest.raises(AiError) as info:
        CATALOGUE.get("@cf/meta/nope")
    assert info.value.code == 5007 and info.value.status == 400
    assert str(info.value) == "5007: No such model @cf/meta/nope or task"


def test_user_folder_adds_and_overrides(tmp_path):
    write_entry(tmp_path, "mine.md", "@cf/me/mine")
    override = write_entry(tmp_path, "awq.md", AWQ)
    catalogue = load_catalogue([tmp_path])
    names = catalogue.names()
    assert names[-1] == "@cf/me/mine" and names.index(AWQ) == CATALOGUE.names().index(AWQ)
    replaced = catalogue.get(AWQ)
    assert replaced.path == override and replaced.description == f"user model {AWQ}"
    assert replaced.overrides == ENTRIES_DIR / "llama-2-13b-chat-awq.md"
    assert catalogue.get("@cf/me/mine").overrides is None


def test_later_folders_win_and_single_files_are_accepted(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    write_entry(first, "m.md", "@cf/me/m")
    later = write_entry(second, "m.md", "@cf/me/m")
    assert load_catalogue([first, second]).get("@cf/me/m").path == later
    assert load_catalogue([later]).get("@cf/me/m").path == later


def test_duplicate_names_in_one_folder_are_an_error(tmp_path):
    write_entry(tmp_path, "a.md", "@cf/me/same")
    write_entry(tmp_path, "b.md", "@cf/me/same")
    with pytest.raises(CatalogueError, match=r"b\.md: model\.name '@cf/me/same' is also defined"):
        load_catalogue([tmp_path])


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue([tmp_path / "nope"])


def test_json_schema_may_be_written_as_yaml(tmp_path):
    path = tmp_path / "y.md"
    path.write_text("---\nmodel:\n  name: '@cf/me/y'\njson_schema:\n  input:\n"
                    "    type: object\n    required: [prompt]\n---\n")
    entry = load_catalogue([tmp_path]).get("@cf/me/y")
    assert entry.input_schema == {"type": "object", "required": ["prompt"]}
    assert entry.id and entry.id == load_catalogue([tmp_path]).get("@cf/me/y").id


# -- search (GET /accounts/{id}/ai/models/search) ------------------------------------------
RECORD_KEYS = {"id", "source", "name", "description", "task", "tags", "properties"}


def test_search_records_have_cloudflares_shape():
    records = CATALOGUE.search(per_page=1000)
    assert [r["name"] for r in records] == CATALOGUE.names()
    for record in records:
        assert set(record) == RECORD_KEYS
        assert set(record["task"]) == {"id", "name", "description"}
        assert all(set(p) == {"property_id", "value"} for p in record["properties"])
    fp16 = next(r for r in records if r["name"] == FP16)
    assert fp16["properties"][0] == {"property_id": "beta", "value": "false"}


def test_search_filters():
    def names(**params):
        return [r["name"] for r in CATALOGUE.search(per_page=1000, **params)]

    assert names(search="llama-2-13b-chat-awq") == [AWQ]
    assert names(search="full precision (fp16)") == [FP16]
    assert len(names(task="text generation")) == len(names(task="text-generation")) == 71
    assert len(names(task="Text Embeddings")) == 8
    assert names(task="Translation") == ["@cf/ai4bharat/indictrans2-en-indic-1B",
                                          "@cf/meta/m2m100-1.2b"]
    assert AWQ in names(author="TheBloke")
    assert all("/thebloke/" in n for n in names(author="thebloke"))
    assert FP16 in names(source=1) and AWQ in names(source=2) and FP16 not in names(source=2)


def test_search_hides_experimental(tmp_path):
    path = write_entry(tmp_path, "e.md", "@cf/me/exp")
    path.write_text(path.read_text().replace("property_id: beta", "property_id: experimental"))
    catalogue = load_catalogue([tmp_path])
    assert "@cf/me/exp" in [r["name"] for r in catalogue.search(search="exp")]
    assert "@cf/me/exp" not in [r["name"] for r in catalogue.search(hide_experimental=True,
                                                                        per_page=1000)]


def test_search_pagination():
    first, second = CATALOGUE.names()[:2]
    assert [r["name"] for r in CATALOGUE.search(page=1, per_page=1)] == [first]
    assert [r["name"] for r in CATALOGUE.search(page=2, per_page=1)] == [second]
    assert CATALOGUE.search(page=4, per_page=50) == []
    page = CATALOGUE.search_page(page=3, per_page=50)
    assert page.result_info() == {"page": 3, "per_page": 50, "count": 11, "total_count": 111}
    assert len(CATALOGUE.search()) == 50  # Cloudflare's default page size
    with pytest.raises(ValueError):
        CATALOGUE.search(page=0)


def test_records_are_copies():
    CATALOGUE.search(search="llama-2-13b-chat-awq")[0]["tags"].append("mutated")
    assert "mutated" not in CATALOGUE.get(AWQ).tags


def test_catalogue_container_protocol():
    catalogue = Catalogue(map(CATALOGUE.get, SEED_NAMES))
    assert len(catalogue) == 2 and AWQ in catalogue and "x" not in catalogue
    assert [e.name for e in catalogue] == [AWQ, FP16]


def test_family_table_lists_every_model_of_the_registry_seed():
    seed = SEEDS / "003_80ebfb4fd6776619.txt"
    if not seed.exists():
        pytest.skip("seed documents not on this machine")
    specs = re.findall(r"Model Format:\*\* (\w+)\n- \*\*Model Size \(in billions\):\*\* (\d+)"
                       r".*?Model ID:\*\* (\S+)", seed.read_text(), re.S)
    assert len(specs) == 15
    sizes = load_family("llama-2-chat")["sizes"]
    for fmt, size, repo in specs:
        assert sizes[int(size)][fmt]["repo"] == repo
