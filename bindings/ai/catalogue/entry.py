"""One catalogue entry: Cloudflare's published record, verbatim, plus edge's serving data.

Two file formats give entries (`bindings.ai.catalogue.markdown` and `.records`); both
reduce to a `Published` (Cloudflare's part as loaded, untouched) and a `CatalogueEntry`
over it. An entry knows its name, task and file from the start; the rest of the record
is read, checked and cached on first use, so indexing ~110 records costs nothing until
a model is used (a shipped record's schema is checked the first time it is asked for).

Every problem is a `CatalogueError` naming the file and the field.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import SchemaError
from jsonschema.validators import validator_for

from bindings.ai.catalogue.errors import CatalogueError
from bindings.ai.catalogue.serving import ServingInfo, shipped_serving

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - a declared dependency
    jsonschema_rs = None


@dataclass(frozen=True)
class Published:
    """Cloudflare's part of an entry file, as loaded.

    `document` is the whole mapping (a record, or a Markdown entry's frontmatter);
    `model` the mapping holding id, source, name, description, task, tags, properties;
    `schemas` the mapping holding `input` and `output`, found under `schema_key`.
    """

    document: dict[str, Any]
    model: dict[str, Any]
    schemas: dict[str, Any]
    schema_key: str
    model_key: str = ""
    #: Markdown entries must have an input schema; a few published records have none.
    schema_required: bool = True


class CatalogueEntry:
    """A model of the catalogue (see the module docstring)."""

    def __init__(self, name: str, path: Path, task_name: str, load: Callable[[], Published],
                 *, task_type: str | None = None, serving: ServingInfo | None = None,
                 body: str = "") -> None:
        self.name = name
        self.path = Path(path)
        self.task_name = task_name
        #: Cloudflare's task slug (`text-generation`); records carry none, so it is derived.
        self.task_type = task_type or "-".join(task_name.lower().split())
        self.body = body
        #: the file of the entry this one replaced (a seed over a record, a user's over both).
        self.overrides: Path | None = None
        self._load = load
        self._own_serving = serving

    def __repr__(self) -> str:
        return f"<CatalogueEntry {self.name} from {self.path.name}>"

    @cached_property
    def published(self) -> Published:
        return self._load()

    @cached_property
    def _fields(self) -> dict[str, Any]:
        return _model_fields(self.path, self.published)

    @property
    def id(self) -> str:
        return self._fields["id"]

    @property
    def source(self) -> int:
        return self._fields["source"]

    @property
    def description(self) -> str:
        return self._fields["description"]

    @property
    def task(self) -> dict[str, str]:
        return self._fields["task"]

    @property
    def tags(self) -> list[str]:
        return self._fields["tags"]

    @property
    def properties(self) -> list[dict[str, Any]]:
        return self._fields["properties"]

    @cached_property
    def _schemas(self) -> tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...]]:
        published = self.published
        text, schema, fixed = check_schema(self.path, published, "input",
                                           required=published.schema_required)
        _, output, fixed_out = check_schema(self.path, published, "output", required=False)
        return text, schema, output, fixed + fixed_out

    @property
    def schema_repairs(self) -> tuple[str, ...]:
        """What `repair_schema` changed in the published schemas (usually nothing)."""
        return self._schemas[3]

    @property
    def input_schema(self) -> dict[str, Any]:
        """The published input schema; `{}` (anything) for a record published without one."""
        return self._schemas[1]

    @property
    def has_schema(self) -> bool:
        return "input" in self.published.schemas

    @property
    def output_schema(self) -> dict[str, Any]:
        return self._schemas[2]

    @property
    def input_schema_text(self) -> str:
        """The input schema as JSON text (the key validators are cached by)."""
        return self._schemas[0]

    @cached_property
    def serving(self) -> ServingInfo:
        """The entry's own serving block, else what the shipped families say of its name."""
        if self._own_serving is not None:
            return self._own_serving
        return shipped_serving(self.name) or ServingInfo()

    def check(self) -> CatalogueEntry:
        """Parse and check everything now (user files: errors at load, not at first use)."""
        _ = self._fields, self._schemas, self.serving
        return self

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


# --- Cloudflare's fields ------------------------------------------------------------------


def _model_fields(path: Path, published: Published) -> dict[str, Any]:
    model, prefix = published.model, published.model_key
    where = (lambda key: f"{prefix}.{key}") if prefix else (lambda key: key)
    name = model_string(path, model, "name", where("name"), required=True)
    task = model.get("task") or {}
    if not isinstance(task, dict):
        raise CatalogueError(path, where("task"),
                             f"must be a mapping, not {type(task).__name__}")
    task_fields = {k: model_string(path, task, k, where(f"task.{k}")) or ""
                   for k in ("id", "name", "description")}
    source = model.get("source", 1)
    if isinstance(source, bool) or not isinstance(source, int):
        raise CatalogueError(path, where("source"), f"must be an integer, not {source!r}")
    tags = model.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise CatalogueError(path, where("tags"), "must be a list of strings")
    properties = model.get("properties") or []
    if not isinstance(properties, list) or not all(
        isinstance(p, dict) and isinstance(p.get("property_id"), str) for p in properties
    ):
        raise CatalogueError(path, where("properties"), "must be a list of {property_id, value}")
    # Cloudflare ids are UUIDs; a user entry without one gets a stable one from its name.
    given_id = model_string(path, model, "id", where("id"))
    return {
        "id": given_id or str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "source": source,
        "description": model_string(path, model, "description", where("description")) or "",
        "task": task_fields,
        "tags": list(tags),
        "properties": [dict(p) for p in properties],
    }


def model_string(path: Path, data: dict, key: str, label: str,
                 required: bool = False) -> str | None:
    """`data[key]` as a string (None if absent); `CatalogueError` naming `label` otherwise."""
    value = data.get(key)
    if value is None or (required and value == ""):
        if required:
            raise CatalogueError(path, label, "missing")
        return None
    if not isinstance(value, str):
        raise CatalogueError(path, label, f"must be a string, not {type(value).__name__}")
    return value


def check_schema(path: Path, published: Published, which: str,
                 required: bool) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """(JSON text, schema, repairs) of `input` or `output`, checked against its metaschema.

    Markdown frontmatter holds schemas as JSON strings (Cloudflare's format) or, for
    hand-written entries, YAML mappings; records hold them as JSON objects.
    """
    key = f"{published.schema_key}.{which}"
    raw = published.schemas.get(which)
    if raw is None:
        if required:
            raise CatalogueError(path, key, "missing")
        return "", {}, ()
    if isinstance(raw, dict):
        schema = raw
    elif isinstance(raw, str):
        try:
            schema = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CatalogueError(path, key, f"is not valid JSON: {exc}") from exc
    else:
        raise CatalogueError(path, key, f"must be a JSON string, not {type(raw).__name__}")
    if not isinstance(schema, dict):
        raise CatalogueError(path, key, "must be a JSON object (a JSON Schema)")
    schema, repairs = repair_schema(schema, key)
    text = raw if isinstance(raw, str) and not repairs else json.dumps(schema, sort_keys=True)
    try:
        if not _meta_valid(schema):
            validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        at = "/" + "/".join(str(p) for p in exc.absolute_path)
        raise CatalogueError(
            path, key, f"is not a valid JSON Schema at '{at}': {exc.message}"
        ) from exc
    return text, schema, repairs


def repair_schema(schema: dict[str, Any], key: str = "") -> tuple[dict[str, Any], tuple[str, ...]]:
    """Mend the one defect Cloudflare publishes: `required` written inside `properties`.

    Two records (`flux-2-dev`, `flux`) list their required inputs as if `required` were
    a property (`"properties": {..., "required": ["multipart"]}`), which no JSON Schema
    metaschema accepts. When that list names only properties of the same object, it is
    moved to where it was meant (the object's `required`) in a copy; the record file stays
    as published. Anything else is left for the metaschema check to report.
    """
    props = schema.get("properties")
    misplaced = props.get("required") if isinstance(props, dict) else None
    if not (isinstance(misplaced, list) and misplaced
            and all(isinstance(k, str) and k in props and k != "required" for k in misplaced)):
        return schema, ()
    fixed = dict(schema)
    fixed["properties"] = {k: v for k, v in props.items() if k != "required"}
    fixed["required"] = list(dict.fromkeys([*(schema.get("required") or []), *misplaced]))
    note = (f"{key}: 'required' {misplaced} was written inside 'properties'; "
            "read as the object's 'required'")
    return fixed, (note,)


def _meta_valid(schema: dict) -> bool:
    """Fast metaschema check (Rust); Python's `check_schema` (~35 ms) words the failures."""
    if jsonschema_rs is None:
        return False
    try:
        return jsonschema_rs.meta.is_valid(schema)
    except Exception:  # not a schema the Rust port knows: let Python judge
        return False
