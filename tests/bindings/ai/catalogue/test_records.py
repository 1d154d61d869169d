"""The shipped records: verbatim, indexed, each loads, its schemas are JSON Schemas, and
every text-generation model accepts a minimal input and answers a bad one with 5006."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest
from jsonschema.validators import validator_for

from bindings.ai.catalogue import RECORDS_DIR, CatalogueError, load_catalogue
from bindings.ai.catalogue.entry import repair_schema
from bindings.ai.catalogue.records import INDEX_COLUMNS, pick, read_index
from bindings.ai.errors import AiError
from bindings.ai.validation import check_inputs

REFERENCE = Path("/work/shared/reference/workers-ai-models")
ROWS = read_index(RECORDS_DIR)
CATALOGUE = load_catalogue()
#: records Cloudflare publishes without a schema (nothing to validate against)
WITHOUT_SCHEMA = {"apertus-v1.5-8b.json", "eurollm-9b-it.json"}
#: records whose published input schema has `required` inside `properties`
MISPLACED_REQUIRED = {"flux-2-dev.json", "flux.json"}


def served(row):
    """The entry a record file gives, or None when it is shadowed or overridden."""
    entry = CATALOGUE.get(row.name)
    return entry if entry.path == RECORDS_DIR / row.file else None


def test_the_index_lists_every_record_file_with_its_name_task_and_length():
    assert {row.file for row in ROWS} == {p.name for p in RECORDS_DIR.glob("*.json")}
    assert len(ROWS) == 112
    for row in ROWS:
        text = (RECORDS_DIR / row.file).read_text(encoding="utf-8")
        record = json.loads(text)
        assert (row.name, row.task, row.chars) == (record["name"], record["task"]["name"],
                                                   len(text)), row.file
    header = (RECORDS_DIR / "INDEX.tsv").read_text().splitlines()[0]
    assert tuple(header.split("\t")) == INDEX_COLUMNS


def test_records_are_byte_for_byte_the_reference_copies():
    if not REFERENCE.is_dir():
        pytest.skip("the reference records are not on this machine")
    for row in ROWS:
        if row.status == "verified":
            continue  # replaced by its re-checked copy (see test_refresh)
        assert (RECORDS_DIR / row.file).read_bytes() == (REFERENCE / row.file).read_bytes()


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.file)
def test_every_record_loads_and_its_schemas_are_json_schemas(row):
    entry = served(row)
    if entry is None:  # the seeds' names, and the shadowed qwen.json: load them directly
        from bindings.ai.catalogue.records import record_entry

        entry = record_entry(RECORDS_DIR / row.file)
    assert entry.search_record()["name"] == row.name and entry.task_name == row.task
    if row.file in WITHOUT_SCHEMA:
        assert not entry.has_schema and entry.input_schema == {}
        return
    record = json.loads((RECORDS_DIR / row.file).read_text())
    for which in ("input", "output"):
        published = record["schema"][which]
        repaired, notes = repair_schema(published)
        assert bool(notes) == (which == "input" and row.file in MISPLACED_REQUIRED)
        # Draft per `$schema`, else 2020-12 (both implementations default to it)
        jsonschema_rs.meta.validate(repaired)
        assert jsonschema_rs.meta.is_valid(published) == (not notes)
    assert entry.input_schema == repair_schema(record["schema"]["input"])[0]


def test_the_rust_and_python_metaschema_checks_agree_on_a_sample():
    # Python's check_schema costs ~25 ms a schema here: one record per task, not all 112.
    seen = set()
    for row in ROWS:
        if row.task in seen or row.file in WITHOUT_SCHEMA:
            continue
        seen.add(row.task)
        schema = json.loads((RECORDS_DIR / row.file).read_text())["schema"]["input"]
        cls = validator_for(schema)
        assert cls(cls.META_SCHEMA).is_valid(schema) == jsonschema_rs.meta.is_valid(schema)
    assert len(seen) == 13


def test_a_misplaced_required_list_is_read_as_the_objects_required():
    entry = CATALOGUE.get("@cf/black-forest-labs/flux-2-dev")
    assert entry.input_schema["required"] == ["multipart"]
    assert "required" not in entry.input_schema["properties"]
    assert entry.schema_repairs and "inside 'properties'" in entry.schema_repairs[0]
    with pytest.raises(AiError) as info:
        check_inputs(entry, {"prompt": "a cat"})
    assert info.value.code == 5006 and "'multipart'" in str(info.value)
    # anything else stays for the metaschema check to report
    odd = {"properties": {"a": {}, "required": ["b"]}}
    assert repair_schema(odd) == (odd, ())


def test_duplicate_names_pick_the_file_named_after_the_model(tmp_path):
    names = [tmp_path / "qwen.json", tmp_path / "qwen1.5-0.5b-chat.json"]
    assert pick("@cf/qwen/qwen1.5-0.5b-chat", names) == (names[1], [names[0]])
    with pytest.raises(CatalogueError, match="exactly one must be named after the model"):
        pick("@cf/qwen/qwen1.5-0.5b-chat", [tmp_path / "a.json", tmp_path / "b.json"])
    assert CATALOGUE.get("@cf/qwen/qwen1.5-0.5b-chat").path.name == "qwen1.5-0.5b-chat.json"


def test_published_duplicates_in_a_users_folder_follow_the_same_rule(tmp_path):
    for file in ("qwen.json", "qwen1.5-0.5b-chat.json"):
        (tmp_path / file).write_bytes((RECORDS_DIR / file).read_bytes())
    catalogue = load_catalogue([tmp_path])
    assert catalogue.get("@cf/qwen/qwen1.5-0.5b-chat").path == tmp_path / "qwen1.5-0.5b-chat.json"
    assert tmp_path / "qwen.json" in catalogue.shadowed


@pytest.mark.parametrize(("text", "message"), [
    ("{", "file is not valid JSON"),
    ("[1]", "file must hold a JSON object"),
    ('{"task": {"name": "Text Generation"}}', "name missing"),
    ('{"name": "@cf/me/x", "schema": [1]}', "schema must be an object"),
    ('{"name": "@cf/me/x", "tags": "a"}', "tags must be a list of strings"),
    ('{"name": "@cf/me/x", "schema": {"input": {"type": 5}}}',
     "schema.input is not a valid JSON Schema at '/type'"),
])
def test_a_malformed_user_record_names_the_file_and_field(tmp_path, text, message):
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(CatalogueError) as info:
        load_catalogue([tmp_path])
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


# -- every text-generation record: a minimal valid input, and a bad one -> 5006 -----------
TEXT = [entry for entry in CATALOGUE if entry.task_name == "Text Generation"]
CANDIDATES = [
    {"messages": [{"role": "user", "content": "Hello"}]},
    {"prompt": "Hello"},
    {"input": "Hello"},  # the Responses-API models (gpt-oss)
]


def minimal_input(entry):
    if entry.name.startswith("@cf/cloudflare/clef"):
        return {"model": entry.name.rsplit("/", 1)[1], "state": "a ticket",
                "questions": {"urgent": {"type": "noul", "instructions": "Is it urgent?"}}}
    for candidate in CANDIDATES:
        try:
            check_inputs(entry, candidate)
        except AiError:
            continue
        return candidate
    raise AssertionError(f"no minimal input fits {entry.name}")


def wrong_value(schema):
    kinds = schema.get("type") if isinstance(schema, dict) else None
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    return 12345 if "string" in kinds or not kinds else "not-a-" + kinds[0]


def test_there_are_71_text_generation_models():
    assert len(TEXT) == 71  # 72 records, one name carried twice (qwen.json)


@pytest.mark.parametrize("entry", TEXT, ids=lambda entry: entry.name)
def test_text_generation_accepts_a_minimal_input_and_rejects_a_bad_one(entry):
    inputs = minimal_input(entry)
    checked = check_inputs(entry, inputs)
    assert set(inputs) <= set(checked.inputs)
    if not entry.has_schema:
        return  # published without a schema: nothing to hold inputs to
    forms = entry.input_schema.get("oneOf") or entry.input_schema.get("anyOf") or []
    props = dict(entry.input_schema.get("properties") or {})
    for form in forms:
        props.update(form.get("properties") or {})
    bad = {key: wrong_value(props[key]) for key in props}
    with pytest.raises(AiError) as info:
        check_inputs(entry, bad)
    assert info.value.code == 5006 and str(info.value).startswith("5006: Error: ")


def test_the_catalogue_readme_counts_match_the_index():
    readme = (RECORDS_DIR.parent / "README.md").read_text()
    for status in ("published", "assembled", "verified"):
        count = sum(row.status == status for row in ROWS)
        assert f"| `{status}` |" in readme
        line = next(line for line in readme.splitlines() if line.startswith(f"| `{status}` |"))
        assert line.rstrip().endswith(f"| {count} |"), (status, count)
