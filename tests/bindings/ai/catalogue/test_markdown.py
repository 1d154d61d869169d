"""Markdown entries: frontmatter and serving-block errors name the file and the field."""

from __future__ import annotations

import pytest

from bindings.ai.catalogue import CatalogueError, load_catalogue
from bindings.ai.catalogue.markdown import parse_markdown, split_frontmatter


def test_frontmatter_and_body_are_split_on_the_closing_line(tmp_path):
    head, body = split_frontmatter(tmp_path / "x.md", "---\nmodel: {}\n---  \nbody\n---\n")
    assert head == "model: {}" and body == "body\n---\n"


def test_entry_without_task_type_gets_cloudflares_slug(tmp_path):
    path = tmp_path / "e.md"
    path.write_text("---\nmodel:\n  name: '@cf/me/e'\n  task: {name: Text-to-Image}\n"
                    "json_schema:\n  input: '{}'\n---\n")
    entry = parse_markdown(path)
    assert (entry.task_name, entry.task_type) == ("Text-to-Image", "text-to-image")


# -- malformed entries: the error names the file and the field -----------------------------
GOOD_FRONT = "model:\n  name: '@cf/me/bad'\njson_schema:\n  input: '{\"type\": \"object\"}'\n"


def served(*blocks: str) -> str:
    """A good entry whose body holds these `yaml edge-serving` blocks."""
    return "---\n" + GOOD_FRONT + "---\n" + "".join(
        f"```yaml edge-serving\n{block}\n```\n" for block in blocks)

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
    (served("promt_format: llama2"),
     "edge-serving.promt_format is not a known field"),
    (served("prompt_format: vicuna"),
     "edge-serving.prompt_format 'vicuna' is not one of"),
    (served("context_length: -4"),
     "edge-serving.context_length must be a positive integer, not -4"),
    (served("quantization: q3"),
     "edge-serving.quantization 'q3' is not one of Q2_K, "),
    (served("engines: [vllm, ollama]"),
     "edge-serving.engines must be a list of llamacpp, tei, tgi, vllm"),
    (served("dtype: half"),
     "edge-serving.dtype 'half' is not one of bfloat16, float16, float32"),
    (served("chat_template: tokenizer_config.json"),
     "edge-serving.chat_template must be a mapping with string 'repo' and 'file'"),
    (served("size_b: 0"),
     "edge-serving.size_b must be a positive number, not 0"),
    (served("a: 1", "b: 2"),
     "edge-serving appears more than once"),
    (served("- 1"),
     "edge-serving must be a YAML mapping"),
    (served("family: gpt-9"),
     "edge-serving.family 'gpt-9' is not a known family (known: bge-en-v1.5, bge-m3, "),
    (served("family: llama-2-chat\nsize_b: 8"),
     "edge-serving.size_b 8 is not a size of llama-2-chat (sizes: 7, 13, 70)"),
    (served("gguf: {repo: r}"),
     "edge-serving.gguf must be a mapping with string 'repo' and 'file'"),
    (served("hf_repos: [a]"),
     "edge-serving.hf_repos must map format names"),
    (served(": ["),
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
