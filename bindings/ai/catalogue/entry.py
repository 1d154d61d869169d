"""One catalogue entry: a Markdown file whose YAML frontmatter is Cloudflare's, verbatim.

The frontmatter has exactly the shape of Cloudflare's published catalogue entries
(`model` with id, source, name, description, task, tags, properties; `task_type`;
`json_schema` with `input`/`output` as JSON strings). edge's own serving data lives in the
Markdown body, in a fenced block whose info string is `yaml edge-serving`, so the
frontmatter stays byte-for-byte what Cloudflare publishes:

    ```yaml edge-serving
    family: llama-2-chat        # fills the fields below that are left out
    size_b: 13
    format: awq                 # the format Cloudflare serves under this name
    quantization: awq
    prompt_format: llama2       # llama2, chatml, none, raw-concat, gguf (the weights' own)
    context_length: 4096
    hf_repos: {pytorch: ..., awq: ..., gptq: ..., ggufv2: ...}
    gguf: {repo: TheBloke/Llama-2-13B-chat-GGUF, file: llama-2-13b-chat.Q4_K_M.gguf}
    ```

Every problem is a `CatalogueError` naming the file and the field.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import SchemaError
from jsonschema.validators import validator_for

from bindings.ai.chat_templates import FORMAT_NAMES

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - a declared dependency
    jsonschema_rs = None

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FENCE = re.compile(r"^```[ \t]*yaml[ \t]+edge-serving[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_FAMILIES = Path(__file__).parent / "families"
PROMPT_FORMATS = frozenset(FORMAT_NAMES) | {"gguf"}
SERVING_FIELDS = (
    "family", "size_b", "format", "quantization", "prompt_format", "context_length",
    "hf_repos", "gguf",
)


class CatalogueError(ValueError):
    """A malformed catalogue entry: `str()` is `"<file>: <field> <problem>"`."""

    def __init__(self, path: Path | str, field_name: str, problem: str) -> None:
        self.path, self.field = Path(path), field_name
        super().__init__(f"{path}: {field_name} {problem}".rstrip())


@dataclass(frozen=True)
class GgufInfo:
    """A GGUF file of the weights on the Hugging Face hub (for llama.cpp)."""

    repo: str
    file: str


@dataclass(frozen=True)
class ServingInfo:
    """edge's serving data for one model (all optional: user entries may leave it out)."""

    family: str | None = None
    size_b: float | None = None
    format: str | None = None
    quantization: str | None = None
    prompt_format: str | None = None
    context_length: int | None = None
    hf_repos: dict[str, str] = field(default_factory=dict)
    gguf: GgufInfo | None = None

    @property
    def hf_repo(self) -> str | None:
        """The repo of the format Cloudflare serves under this name."""
        return self.hf_repos.get(self.format) if self.format else None


@dataclass(eq=False)
class CatalogueEntry:
    """A parsed entry; `frontmatter` is Cloudflare's part as loaded, untouched."""

    name: str
    id: str
    source: int
    description: str
    task: dict[str, str]
    task_type: str
    tags: list[str]
    properties: list[dict[str, Any]]
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    input_schema_text: str
    frontmatter: dict[str, Any]
    serving: ServingInfo
    path: Path
    body: str = ""
    overrides: Path | None = None

    @property
    def task_name(self) -> str:
        return self.task.get("name", "")

    @property
    def author(self) -> str:
        """`@hf/thebloke/x` -> `thebloke`, `@cf/meta/x` -> `meta` (as Cloudflare's pages show)."""
        parts = self.name.split("/")
        return parts[1] if len(parts) >= 3 and parts[0].startswith("@") else ""

    def property(self, property_id: str) -> str | None:
        for item in self.properties:
            if item.get("property_id") == property_id:
                return item.get("value")
        return None

    # --- schema questions: asked here, never by walking schemas elsewhere ---------------

    def input_forms(self) -> list[dict[str, Any]]:
        """The input's alternatives (each `oneOf`/`anyOf` branch with the root's properties
        merged in), or the input schema itself."""
        schema = self.input_schema
        branches = schema.get("oneOf") or schema.get("anyOf")
        if not branches:
            return [schema]
        root = schema.get("properties") or {}
        return [
            {**branch, "properties": {**root, **(branch.get("properties") or {})}}
            for branch in branches
            if isinstance(branch, dict)
        ]

    def input_property(self, name: str) -> dict[str, Any] | None:
        """The schema of input `name` in the first form that declares it, or None."""
        for form in self.input_forms():
            prop = (form.get("properties") or {}).get(name)
            if isinstance(prop, dict):
                return prop
        return None

    def accepts(self, name: str) -> bool:
        """Whether some input form declares property `name`."""
        return self.input_property(name) is not None

    def accepts_messages(self) -> bool:
        return self.accepts("messages")

    def accepts_prompt(self) -> bool:
        return self.accepts("prompt")

    def streams(self) -> bool:
        """Whether the input has a `stream` property (the model can answer with SSE)."""
        return self.accepts("stream")

    def input_default(self, name: str) -> Any:
        """The schema's `default` for input `name`, or None."""
        prop = self.input_property(name)
        return prop.get("default") if prop else None

    def max_prompt_length(self) -> int | None:
        """The `maxLength` of the `prompt` input, in characters, or None."""
        prop = self.input_property("prompt")
        value = prop.get("maxLength") if prop else None
        return value if isinstance(value, int) else None

    def binary_output(self) -> str | None:
        """The media type of a raw-bytes output (`image/png`, `audio/mpeg`), or None when
        the model answers JSON (or SSE)."""
        schema = self.output_schema
        for form in schema.get("oneOf") or [schema]:
            if not isinstance(form, dict) or form.get("format") != "binary":
                continue
            media = form.get("contentType") or "application/octet-stream"
            if media != "text/event-stream":
                return media
        return None

    def json_output(self) -> dict[str, Any]:
        """The output schema's JSON form (`contentType` application/json, or unmarked),
        or {} when the model answers only bytes or SSE."""
        schema = self.output_schema
        for form in schema.get("oneOf") or [schema]:
            if not isinstance(form, dict) or form.get("format") == "binary":
                continue
            if form.get("contentType", "application/json") == "application/json":
                return form
        return {}

    def search_record(self) -> dict[str, Any]:
        """This model as an `/ai/models/search` record (workers-types' AiModelsSearchObject)."""
        return {
            "id": self.id,
            "source": self.source,
            "name": self.name,
            "description": self.description,
            "task": dict(self.task),
            "tags": list(self.tags),
            "properties": [dict(item) for item in self.properties],
        }


def split_frontmatter(path: Path, text: str) -> tuple[str, str]:
    """(frontmatter YAML, Markdown body) of an entry file."""
    if not text.startswith("---"):
        raise CatalogueError(path, "frontmatter", "missing: the file must start with '---'")
    lines = text.split("\n")
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    raise CatalogueError(path, "frontmatter", "is not closed by a '---' line")


def parse_entry(path: Path, text: str | None = None) -> CatalogueEntry:
    """Parse one entry file; `CatalogueError` naming the file and field on any problem."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogueError(path, "file", f"cannot be read: {exc}") from exc
    head, body = split_frontmatter(path, text)
    try:
        front = yaml.load(head, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise CatalogueError(path, "frontmatter", f"is not valid YAML: {exc}") from exc
    if not isinstance(front, dict):
        raise CatalogueError(path, "frontmatter", "is not a YAML mapping")

    model = _mapping(path, front, "model", required=True)
    name = _string(path, model, "model.name", required=True)
    task = _mapping(path, model, "model.task") or {}
    task_fields = {
        k: _string(path, task, f"model.task.{k}") or "" for k in ("id", "name", "description")
    }
    source = model.get("source", 1)
    if isinstance(source, bool) or not isinstance(source, int):
        raise CatalogueError(path, "model.source", f"must be an integer, not {source!r}")
    tags = model.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise CatalogueError(path, "model.tags", "must be a list of strings")
    properties = model.get("properties") or []
    if not isinstance(properties, list) or not all(
        isinstance(p, dict) and isinstance(p.get("property_id"), str) for p in properties
    ):
        raise CatalogueError(path, "model.properties", "must be a list of {property_id, value}")

    schemas = _mapping(path, front, "json_schema", required=True)
    input_text, input_schema = _schema(path, schemas, "input", required=True)
    _, output_schema = _schema(path, schemas, "output", required=False)

    return CatalogueEntry(
        name=name,
        # Cloudflare ids are UUIDs; a user entry without one gets a stable one from its name.
        id=_string(path, model, "model.id") or str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        source=source,
        description=_string(path, model, "model.description") or "",
        task=task_fields,
        task_type=_string(path, front, "task_type") or "",
        tags=list(tags),
        properties=[dict(p) for p in properties],
        input_schema=input_schema,
        output_schema=output_schema,
        input_schema_text=input_text,
        frontmatter=front,
        serving=parse_serving(path, body),
        path=path,
        body=body,
    )


def _mapping(path: Path, data: dict, key: str, required: bool = False) -> dict | None:
    leaf = key.rsplit(".", 1)[-1]
    value = data.get(leaf)
    if value is None:
        if required:
            raise CatalogueError(path, key, "missing")
        return None
    if not isinstance(value, dict):
        raise CatalogueError(path, key, f"must be a mapping, not {type(value).__name__}")
    return value


def _string(path: Path, data: dict, key: str, required: bool = False) -> str | None:
    value = data.get(key.rsplit(".", 1)[-1])
    if value is None or (required and value == ""):
        if required:
            raise CatalogueError(path, key, "missing")
        return None
    if not isinstance(value, str):
        raise CatalogueError(path, key, f"must be a string, not {type(value).__name__}")
    return value


def _schema(path: Path, schemas: dict, which: str, required: bool) -> tuple[str, dict]:
    key = f"json_schema.{which}"
    raw = schemas.get(which)
    if raw is None:
        if required:
            raise CatalogueError(path, key, "missing")
        return "", {}
    if isinstance(raw, dict):  # convenience for hand-written entries: YAML instead of JSON text
        text, schema = json.dumps(raw), raw
    elif isinstance(raw, str):
        text = raw
        try:
            schema = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CatalogueError(path, key, f"is not valid JSON: {exc}") from exc
    else:
        raise CatalogueError(path, key, f"must be a JSON string, not {type(raw).__name__}")
    if not isinstance(schema, dict):
        raise CatalogueError(path, key, "must be a JSON object (a JSON Schema)")
    try:
        if not _meta_valid(schema):
            validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = "/" + "/".join(str(p) for p in exc.absolute_path)
        raise CatalogueError(
            path, key, f"is not a valid JSON Schema at '{where}': {exc.message}"
        ) from exc
    return text, schema


def _meta_valid(schema: dict) -> bool:
    """Fast metaschema check (Rust); Python's `check_schema` (~35 ms) words the failures."""
    if jsonschema_rs is None:
        return False
    try:
        return jsonschema_rs.meta.is_valid(schema)
    except Exception:  # not a schema the Rust port knows: let Python judge
        return False


def parse_serving(path: Path, body: str) -> ServingInfo:
    """The `yaml edge-serving` block of an entry's body (empty `ServingInfo` if absent)."""
    blocks = _FENCE.findall(body)
    if not blocks:
        return ServingInfo()
    if len(blocks) > 1:
        raise CatalogueError(path, "edge-serving", "appears more than once")
    try:
        data = yaml.load(blocks[0], Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        raise CatalogueError(path, "edge-serving", f"is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogueError(path, "edge-serving", "must be a YAML mapping")
    unknown = sorted(set(data) - set(SERVING_FIELDS))
    if unknown:
        raise CatalogueError(path, f"edge-serving.{unknown[0]}",
                             f"is not a known field (known: {', '.join(SERVING_FIELDS)})")

    def text(key: str) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise CatalogueError(path, f"edge-serving.{key}", f"must be a string, not {value!r}")
        return value

    family = text("family")
    size = data.get("size_b")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int | float)):
        raise CatalogueError(path, "edge-serving.size_b", f"must be a number, not {size!r}")
    defaults = _family_defaults(path, family, size) if family else {}

    prompt_format = text("prompt_format") or defaults.get("prompt_format")
    if prompt_format is not None and prompt_format not in PROMPT_FORMATS:
        raise CatalogueError(path, "edge-serving.prompt_format",
                             f"{prompt_format!r} is not one of {', '.join(sorted(PROMPT_FORMATS))}")
    context = data.get("context_length", defaults.get("context_length"))
    if context is not None and (isinstance(context, bool) or not isinstance(context, int)
                                or context <= 0):
        raise CatalogueError(path, "edge-serving.context_length",
                             f"must be a positive integer, not {context!r}")
    repos = data.get("hf_repos")
    if repos is None:
        repos = defaults.get("hf_repos", {})
    if not isinstance(repos, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in repos.items()
    ):
        raise CatalogueError(path, "edge-serving.hf_repos", "must map format names to repo ids")
    gguf = data.get("gguf")
    if gguf is None:
        gguf = defaults.get("gguf")
    if gguf is not None:
        if not isinstance(gguf, dict) or not all(
            isinstance(gguf.get(k), str) for k in ("repo", "file")
        ):
            raise CatalogueError(path, "edge-serving.gguf",
                                 "must be a mapping with string 'repo' and 'file'")
        gguf = GgufInfo(repo=gguf["repo"], file=gguf["file"])
    return ServingInfo(
        family=family,
        size_b=size,
        format=text("format"),
        quantization=text("quantization"),
        prompt_format=prompt_format,
        context_length=context,
        hf_repos=dict(repos),
        gguf=gguf,
    )


@cache
def load_family(name: str) -> dict[str, Any] | None:
    """A shipped model family (`families/<name>.yaml`), or None."""
    file = _FAMILIES / f"{name}.yaml"
    if not file.is_file():
        return None
    return yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)


def family_names() -> list[str]:
    return sorted(p.stem for p in _FAMILIES.glob("*.yaml"))


def _family_defaults(path: Path, family: str, size: float | None) -> dict[str, Any]:
    data = load_family(family)
    if data is None:
        known = ", ".join(family_names())
        raise CatalogueError(path, "edge-serving.family",
                             f"{family!r} is not a known family (known: {known})")
    out: dict[str, Any] = {k: data[k] for k in ("prompt_format", "context_length") if k in data}
    if size is None:
        return out
    spec = data.get("sizes", {}).get(size)
    if spec is None:
        sizes = ", ".join(str(s) for s in data.get("sizes", {}))
        raise CatalogueError(path, "edge-serving.size_b",
                             f"{size!r} is not a size of {family} (sizes: {sizes})")
    out["hf_repos"] = {fmt: item["repo"] for fmt, item in spec.items() if fmt != "ggmlv3"}
    gguf = spec.get("ggufv2")
    if gguf and "file" in gguf:
        quant = data.get("default_gguf_quantization", "Q4_K_M")
        out["gguf"] = {"repo": gguf["repo"], "file": gguf["file"].format(quantization=quant)}
    return out
