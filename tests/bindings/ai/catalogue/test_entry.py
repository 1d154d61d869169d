"""Schema questions are answered by the catalogue entry (never by walking schemas elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bindings.ai.catalogue import load_catalogue, parse_markdown

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"


def entry_with(tmp_path: Path, input_schema: dict, output_schema: dict | None = None):
    output = json.dumps(output_schema or {"type": "object"})
    file = tmp_path / "m.md"
    file.write_text(
        "---\nmodel:\n  name: '@cf/me/m'\n  task: {name: Toy}\njson_schema:\n"
        f"  input: '{json.dumps(input_schema)}'\n  output: '{output}'\n---\n"
    )
    return parse_markdown(file)


def test_the_seed_answers_its_schema_questions():
    entry = load_catalogue().get(AWQ)
    assert entry.accepts_messages() and entry.accepts_prompt() and entry.streams()
    assert entry.accepts("max_tokens") and not entry.accepts("image")
    assert entry.input_default("max_tokens") == 256
    assert entry.input_default("stream") is False
    assert entry.max_prompt_length() == 4096
    assert entry.input_property("prompt")["type"] == "string"
    assert entry.binary_output() is None
    prompt_form, messages_form = entry.input_forms()
    assert "prompt" in prompt_form["properties"] and "messages" not in prompt_form["properties"]
    assert "messages" in messages_form["properties"] and "prompt" not in messages_form["properties"]


def test_root_properties_count_for_every_branch(tmp_path):
    entry = entry_with(tmp_path, {
        "type": "object",
        "properties": {"seed": {"type": "integer", "default": 7}},
        "oneOf": [{"properties": {"text": {"type": "string"}}}, {"properties": {"a": {}}}],
    })
    assert [sorted(form["properties"]) for form in entry.input_forms()] == [
        ["seed", "text"], ["a", "seed"]
    ]
    assert entry.input_default("seed") == 7
    assert not entry.accepts_messages() and not entry.streams()
    assert entry.max_prompt_length() is None


@pytest.mark.parametrize(
    ("output", "media"),
    [
        ({"type": "string", "format": "binary", "contentType": "image/png"}, "image/png"),
        ({"oneOf": [{"type": "object", "contentType": "application/json"},
                    {"type": "string", "format": "binary", "contentType": "audio/mpeg"}]},
         "audio/mpeg"),
        ({"oneOf": [{"type": "object"},
                    {"type": "string", "format": "binary", "contentType": "text/event-stream"}]},
         None),
        ({"type": "string", "format": "binary"}, "application/octet-stream"),
        ({"type": "object", "contentType": "application/json"}, None),
    ],
)
def test_binary_output_is_the_raw_bytes_media_type(tmp_path, output, media):
    entry = entry_with(tmp_path, {"type": "object"}, output)
    assert entry.binary_output() == media
    # the JSON form is the other one (or none)
    json_form = entry.json_output()
    assert json_form == {} or json_form.get("type") == "object"
    assert (json_form == {}) == (output.get("type") == "string")
