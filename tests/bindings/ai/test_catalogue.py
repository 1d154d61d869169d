"""The catalogue: shipped seed entries, serving blocks, user overrides, errors, search."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from bindings.ai.catalogue import SHIPPED_DIR, Catalogue, CatalogueError, load_catalogue
from bindings.ai.catalogue.entry import load_family, split_frontmatter
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
def test_ships_both_seed_models():
    catalogue = load_catalogue()
    assert catalogue.names() == [AWQ, FP16]
    awq = catalogue.get(AWQ)
    assert awq.id == "85c5a3c6-24b0-45e7-b23a-023182578822" and awq.source == 2
    assert awq.task_name == "Text Generation" and awq.author == "thebloke"
    assert catalogue.get(FP16).author == "meta"
    assert awq.input_schema["oneOf"][0]["properties"]["prompt"]["maxLength"] == 4096
    assert awq.output_schema["oneOf"][1]["contentType"] == "text/event-stream"


@pytest.mark.parametrize(("filename", "seed"), [
    ("llama-2-13b-chat-awq.md", "000_e14cf9d2b4e1e103.txt"),
    ("llama-2-7b-chat-fp16.md", "004_4a57c0171e53249e.txt"),
])
def test_cloudflare_part_is_byte_for_byte_the_seed(filename, seed):
    shipped = (SHIPPED_DIR / filename).read_bytes()
    if not (SEEDS / seed).exists():
        pytest.skip("seed documents not on this machine")
    assert shipped.startswith((SEEDS / seed).read_bytes())


def test_serving_block_is_separate_from_the_frontmatter():
    for entry in load_catalogue():
        head, body = split_frontmatter(entry.path, entry.path.read_text())
        assert "edge" not in yaml.safe_load(head)
        assert "```yaml edge-serving" in body
        assert set(entry.frontmatter) == set(yaml.safe_load(head))


def test_serving_data_of_the_seed_models():
    catalogue = load_catalogue()
    awq, fp16 = catalogue.get(AWQ).serving, catalogue.get(FP16).serving
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
    for entry in load_catalogue():
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
        load_catalogue().get("@cf/meta/nope")
    assert info.value.code == 5007 and info.value.status == 400
    assert str(info.value) == "5007: No such model @cf/meta/nope or task"


def test_user_folder_adds_and_overrides(tmp_path):
    write_entry(tmp_path, "mine.md", "@cf/me/mine")
    override = write_entry(tmp_path, "awq.md", AWQ)
    catalogue = load_catalogue([tmp_path])
    assert catalogue.names() == [AWQ, FP16, "@cf/me/mine"]  # overrides keep their place
    replaced = catalogue.get(AWQ)
    assert replaced.path == override and replaced.description == f"user model {AWQ}"
    assert replaced.overrides == SHIPPED_DIR / "llama-2-13b-chat-awq.md"
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


# -- malformed entries: the error names the file and the field -----------------------------
GOOD_FRONT = "model:\n  name: '@cf/me/bad'\njson_schema:\n  input: '{\"type\": \"object\"}'\n"
MALFORMED = [
    ("no frontmatter here\n", "frontmatter missing"),
    ("---\nmodel: {}\n", "frontmatter is not closed"),
    ("---\nmodel: [\n---\n", "frontmatter is not valid YAML"),
    ("---\n- a\n---\n", "frontmatter is not a YAML mapping"),
    ("---\njson_schema: {input: '{}'}\n---\n", "model missing"),
    ("---\nmodel: {description: x}\njson_schema: {input: '{}'}\n---\n", "model.name missing"),
    ("---\nmodel: {name: 5}\njson_schema: {input: '{}'}\n---\n", "model.name must be a string"),
    ("---\nmodel: {name: a, source: x}\njson_schema: {input: '{}'}\n---\n",
     "model.source must be an integer"),
    ("---\nmodel: {name: a, tags: x}\njson_schema: {input: '{}'}\n---\n",
     "model.tags must be a list of strings"),
    ("---\nmodel: {name: a, properties: [1]}\njson_schema: {input: '{}'}\n---\n",
     "model.properties must be a list"),
    ("---\nmodel: {name: a}\n---\n", "json_schema missing"),
    ("---\nmodel: {name: a}\njson_schema: {output: '{}'}\n---\n", "json_schema.input missing"),
    ("---\nmodel: {name: a}\njson_schema: {input: '{nope'}\n---\n",
     "json_schema.input is not valid JSON: Expecting property name"),
    ("---\nmodel: {name: a}\njson_schema: {input: '[1]'}\n---\n",
     "json_schema.input must be a JSON object"),
    ("---\nmodel: {name: a}\njson_schema: {input: '{\"type\": 5}'}\n---\n",
     "json_schema.input is not a valid JSON Schema at '/type'"),
    ("---\nmodel: {name: a}\njson_schema: {input: '{}', output: '{\"minLength\": -1}'}\n---\n",
     "json_schema.output is not a valid JSON Schema"),
    ("---\n" + GOOD_FRONT + "---\n```yaml edge-serving\npromt_format: llama2\n```\n",
     "edge-serving.promt_format is not a known field"),
    ("---\n" + GOOD_FRONT + "---\n```yaml edge-serving\nprompt_format: vicuna\n```\n",
     "edge-serving.prompt_format 'vicuna' is not one of"),
    ("---\n" + GOOD_FRONT + "---\n```yaml edge-serving\ncontext_length: -4\n```\n",
     "edge-serving.context_length must be a positive integer"),
    ("---\n" + GOOD_FRONT + "---\n```yaml edge-serving\nfamily: gpt-9\n```\n",
     "edge-serving.family 'gpt-9' is not a known family (known: llama-2-chat)"),
    ("---\n" + GOOD_FRONT + "---\n```yaml edge-serving\nfamily: llama-2-chat\nsize_b: 8\n```\n",
     "edge-serving.size_b 8 is not a size of llama-2-chat (sizes: 7, 13, 70)"),
    ("---\n" + GOOD_FRONT + "---\n```yaml edge-serving\ngguf: {repo: r}\n```\n",
     "edge-serving.gguf must be a mapping with string 'repo' and 'file'"),
    ("---\n" + GOOD_FRONT + "---\n```yaml edge-serving\nhf_repos: [a]\n```\n",
     "edge-serving.hf_repos must map format names"),
    ("---\n" + GOOD_FRONT + "---\n```yaml edge-serving\n: [\n```\n",
     "edge-serving is not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_entry_names_file_and_field(tmp_path, text, message):
    path = tmp_path / "bad-entry.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue([tmp_path])
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert info.value.path == path


# -- search (GET /accounts/{id}/ai/models/search) ------------------------------------------
RECORD_KEYS = {"id", "source", "name", "description", "task", "tags", "properties"}


def test_search_records_have_cloudflares_shape():
    records = load_catalogue().search()
    assert [r["name"] for r in records] == [AWQ, FP16]
    for record in records:
        assert set(record) == RECORD_KEYS
        assert set(record["task"]) == {"id", "name", "description"}
        assert all(set(p) == {"property_id", "value"} for p in record["properties"])
    fp16 = records[1]
    assert fp16["properties"][0] == {"property_id": "beta", "value": "false"}


def test_search_filters():
    catalogue = load_catalogue()
    assert [r["name"] for r in catalogue.search(search="AWQ")] == [AWQ]
    assert [r["name"] for r in catalogue.search(search="full precision")] == [FP16]
    assert len(catalogue.search(task="text generation")) == 2
    assert len(catalogue.search(task="text-generation")) == 2
    assert catalogue.search(task="Translation") == []
    assert [r["name"] for r in catalogue.search(author="TheBloke")] == [AWQ]
    assert [r["name"] for r in catalogue.search(source=1)] == [FP16]


def test_search_hides_experimental(tmp_path):
    path = write_entry(tmp_path, "e.md", "@cf/me/exp")
    path.write_text(path.read_text().replace("property_id: beta", "property_id: experimental"))
    catalogue = load_catalogue([tmp_path])
    assert "@cf/me/exp" in [r["name"] for r in catalogue.search()]
    assert "@cf/me/exp" not in [r["name"] for r in catalogue.search(hide_experimental=True)]


def test_search_pagination():
    catalogue = load_catalogue()
    assert [r["name"] for r in catalogue.search(page=1, per_page=1)] == [AWQ]
    assert [r["name"] for r in catalogue.search(page=2, per_page=1)] == [FP16]
    assert catalogue.search(page=3, per_page=1) == []
    page = catalogue.search_page(page=2, per_page=1)
    assert page.result_info() == {"page": 2, "per_page": 1, "count": 1, "total_count": 2}
    with pytest.raises(ValueError):
        catalogue.search(page=0)


def test_records_are_copies():
    catalogue = load_catalogue()
    catalogue.search()[0]["tags"].append("mutated")
    assert "mutated" not in catalogue.get(AWQ).tags


def test_catalogue_container_protocol():
    catalogue = Catalogue(load_catalogue().entries())
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
