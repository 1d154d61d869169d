"""Markdown catalogue entries: Cloudflare's YAML frontmatter, verbatim, plus a serving block.

The format of the seed documents and of users' own entries. The frontmatter has exactly
the shape of Cloudflare's published catalogue pages (`model` with id, source, name,
description, task, tags, properties; `task_type`; `json_schema` with `input`/`output`
as JSON strings). edge's own serving data lives in the Markdown body, in a fenced block
whose info string is `yaml edge-serving`, so the frontmatter stays byte-for-byte what
Cloudflare publishes:

    ```yaml edge-serving
    family: llama-2-chat        # fills the fields below that are left out
    size_b: 13
    format: awq                 # the format Cloudflare serves under this name
    quantization: awq
    prompt_format: llama2
    context_length: 4096
    gguf: {repo: TheBloke/Llama-2-13B-chat-GGUF, file: llama-2-13b-chat.Q4_K_M.gguf}
    ```

(the fields: `bindings.ai.catalogue.serving`). Markdown entries are few and hand-written:
they are parsed and checked whole when loaded, so a mistake shows at start-up.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bindings.ai.catalogue.entry import CatalogueEntry, Published, model_string
from bindings.ai.catalogue.errors import CatalogueError
from bindings.ai.catalogue.serving import ServingInfo, parse_serving

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FENCE = re.compile(r"^```[ \t]*yaml[ \t]+edge-serving[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def split_frontmatter(path: Path, text: str) -> tuple[str, str]:
    """(frontmatter YAML, Markdown body) of an entry file."""
    if not text.startswith("---"):
        raise CatalogueError(path, "frontmatter", "missing: the file must start with '---'")
    lines = text.split("\n")
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    raise CatalogueError(path, "frontmatter", "is not closed by a '---' line")


def parse_markdown(path: Path, text: str | None = None) -> CatalogueEntry:
    """Parse and check one entry file; `CatalogueError` naming the file and field."""
    path = Path(path)
    if text is None:
        text = read_text(path)
    head, body = split_frontmatter(path, text)
    try:
        front = yaml.load(head, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise CatalogueError(path, "frontmatter", f"is not valid YAML: {exc}") from exc
    if not isinstance(front, dict):
        raise CatalogueError(path, "frontmatter", "is not a YAML mapping")
    model = _mapping(path, front, "model")
    schemas = _mapping(path, front, "json_schema")
    name = model_string(path, model, "name", "model.name", required=True)
    task = model.get("task") if isinstance(model.get("task"), dict) else {}
    published = Published(document=front, model=model, schemas=schemas,
                          schema_key="json_schema", model_key="model")
    return CatalogueEntry(
        name, path, str(task.get("name") or ""), lambda: published,
        task_type=model_string(path, front, "task_type", "task_type"),
        serving=parse_serving_block(path, body), body=body,
    ).check()


def parse_serving_block(path: Path, body: str) -> ServingInfo | None:
    """The `yaml edge-serving` block of an entry's body (None if it has none)."""
    blocks = _FENCE.findall(body)
    if not blocks:
        return None
    if len(blocks) > 1:
        raise CatalogueError(path, "edge-serving", "appears more than once")
    try:
        data = yaml.load(blocks[0], Loader=_Loader)
    except yaml.YAMLError as exc:
        raise CatalogueError(path, "edge-serving", f"is not valid YAML: {exc}") from exc
    return parse_serving(path, data)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(path, "file", f"cannot be read: {exc}") from exc


def _mapping(path: Path, data: dict, key: str) -> dict:
    value = data.get(key)
    if value is None:
        raise CatalogueError(path, key, "missing")
    if not isinstance(value, dict):
        raise CatalogueError(path, key, f"must be a mapping, not {type(value).__name__}")
    return value
