"""Example inputs from a model's input schema: what a page's snippets send and what its
playground starts from, for any task, so a task without page pieces of its own still
gets a correct page.

The example holds the schema's required properties only (its first alternative where
it offers several, preferring an object form), each with the schema's `default`, first
`enum` value or `minimum` where it has one, else a sample chosen by the property's name
(`SAMPLES`). Images and audio, which schemas take as byte arrays, base64 strings, data
URIs or streams, become a `FileInput`: the snippets read the user's file there, the
playground offers a file picker. Every example, with its files filled in
(`with_files`), validates against the schema it came from (the page tests check all of
them).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

#: sample values by property name, for required properties without a default or enum.
SAMPLES: dict[str, Any] = {
    "prompt": "cyberpunk cat",
    "text": "I love this movie, it made my day!",
    "input_text": (
        "Workers AI runs machine learning models on Cloudflare's global network. "
        "Developers call the models from Workers, Pages or the REST API, and pay only "
        "for what they use. Models cover text generation, embeddings, images and speech."
    ),
    "query": "Which sentence is about cats?",
    "question": "What is in this image?",
    "target_lang": "french",
    "source_lang": "english",
    "target_language": "fr",
    "instruction": "Retrieve passages that answer the question",
}
_CONTEXTS = ["Cats purr when they are happy.", "The stock market closed higher today."]
_DEFAULT_TEXT = "Hello, World"


@dataclass(frozen=True)
class FileInput:
    """An image or audio input the user supplies as a file.

    `encoding` is how the schema takes it: "bytes" (an array of 0-255 integers),
    "base64" (a string), "data_uri" (`data:<type>;base64,...`) or "stream" (an object
    `{"body": <ReadableStream>, "contentType": ...}`, from a Worker only).
    """

    kind: str  # "image", "audio" or "form" (a multipart form, as a stream)
    encoding: str

    @property
    def filename(self) -> str:
        return {"image": "input.jpg", "audio": "input.mp3"}.get(self.kind, "input.bin")

    @property
    def media_type(self) -> str:
        return {"image": "image/jpeg", "audio": "audio/mpeg"}.get(self.kind, "multipart/form-data")

    @property
    def streamed(self) -> bool:
        """Only a Worker can pass it (a `ReadableStream`); no JSON body carries it."""
        return self.encoding == "stream"

    def value(self, data: bytes) -> Any:
        """The JSON value carrying `data` the way the schema takes it."""
        if self.encoding == "bytes":
            return list(data)
        encoded = base64.b64encode(data).decode("ascii")
        if self.encoding == "data_uri":
            return f"data:{self.media_type};base64,{encoded}"
        if self.encoding == "stream":
            raise ValueError("a stream input cannot be written as JSON")
        return encoded


def file_input(name: str, schema: Any) -> FileInput | None:
    """The `FileInput` property `name` is, or None when it is not one."""
    if not isinstance(schema, dict):
        return None
    kind = "image" if ("image" in name or name == "mask") else "audio" if "audio" in name else None
    branches = _branches(schema)
    if any(_is_stream(branch) for branch in branches):
        # `{"body": ReadableStream, "contentType": ...}`: audio, or a multipart form (FLUX.2)
        return FileInput(kind or "form", "stream")
    if kind is None:
        return None
    if any(_is_byte_array(branch) for branch in branches):
        return FileInput(kind, "bytes")
    for branch in branches:
        text = str(branch.get("description") or "").lower()
        if branch.get("type") != "string":
            continue
        if "data uri" in text or "url" in text:
            return FileInput(kind, "data_uri")
        if "base64" in text or name.endswith("_b64") or branch.get("format") == "binary":
            return FileInput(kind, "base64")
    return None


def example_inputs(schema: Any) -> dict[str, Any]:
    """The example for an input schema (see the module docstring); {} when it has none."""
    form = input_form(schema)
    if form is None:
        return {}
    example = {name: example_value(name, sub) for name, sub in required_properties(form)}
    if not example:
        # Nothing required (the image of an object-detection form, moondream's `image`):
        # the first file input, else the first property with a sample, shows the point.
        props = form.get("properties") or {}
        first = next((n for n, sub in props.items() if file_input(n, sub)), None) or next(
            (n for n in SAMPLES if n in props), None)
        if first is not None:
            example[first] = example_value(first, props[first])
    return example


def input_form(schema: Any) -> dict[str, Any] | None:
    """The object form of an input schema the example uses: the schema itself, or the
    first alternative with properties (its `type` carried down) whose required inputs
    a JSON body can carry (smart-turn takes a stream or base64); None when none has
    properties."""
    forms = _forms(schema)
    sendable = (form for form in forms if not any(
        (found := file_input(name, sub)) and found.streamed
        for name, sub in required_properties(form)))
    return next(sendable, forms[0] if forms else None)


def _forms(schema: Any) -> list[dict[str, Any]]:
    if not isinstance(schema, dict):
        return []
    if "properties" in schema:
        return [schema]
    return [form for branch in _branches(schema) if branch is not schema
            for form in _forms({"type": schema.get("type"), **branch})]


def required_properties(form: dict[str, Any]) -> list[tuple[str, Any]]:
    """(name, schema) of the form's required properties, in the schema's order."""
    needed = set(form.get("required") or [])
    return [(name, sub) for name, sub in (form.get("properties") or {}).items() if name in needed]


def example_value(name: str, schema: Any) -> Any:
    """A valid value for property `name` (a `FileInput` for images and audio)."""
    if not isinstance(schema, dict):
        return _DEFAULT_TEXT
    found = file_input(name, schema)
    if found is not None:
        return found
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    branches = _branches(schema)
    if branches[0] is not schema:
        # a plain string beats a list of them: `text: str | list[str]` shows "text"
        simple = next((b for b in branches if b.get("type") == "string"), branches[0])
        return example_value(name, {"type": schema.get("type"), **simple})
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "string":
        return _string(name, schema)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return int(low) + 1 if kind == "integer" or float(low).is_integer() else low
    if kind == "boolean":
        return False
    if kind == "array":
        return _example_array(name, schema)
    if kind == "object" or "properties" in schema:
        value = {key: example_value(key, sub) for key, sub in required_properties(schema)}
        extra = schema.get("additionalProperties")
        if not value and isinstance(extra, dict) and (schema.get("minProperties") or 0) > 0:
            value[f"{name.rstrip('s')}_1"] = example_value(name.rstrip("s"), extra)
        return value
    return SAMPLES.get(name, _DEFAULT_TEXT)


def with_files(inputs: Any, data: bytes) -> Any:
    """`inputs` with every `FileInput` replaced by `data` in its encoding."""
    if isinstance(inputs, FileInput):
        return inputs.value(data)
    if isinstance(inputs, dict):
        return {key: with_files(value, data) for key, value in inputs.items()}
    if isinstance(inputs, list):
        return [with_files(value, data) for value in inputs]
    return inputs


def files_in(inputs: Any) -> list[FileInput]:
    """The `FileInput`s an example holds."""
    if isinstance(inputs, FileInput):
        return [inputs]
    values = inputs.values() if isinstance(inputs, dict) else inputs if isinstance(
        inputs, list) else ()
    return [found for value in values for found in files_in(value)]


def _string(name: str, schema: dict[str, Any]) -> str:
    """A sample string that also matches the schema's `pattern`, where it has one."""
    sample = SAMPLES.get(name, _DEFAULT_TEXT)
    pattern = schema.get("pattern")
    if not isinstance(pattern, str):
        return sample
    # the words of the pattern's first alternation (`^(clef|clef-flash)$`), then numbers
    words = re.search(r"\(([\w.|-]+)\)", pattern)
    candidates = [sample, *(words.group(1).split("|") if words else ()), "16000", "1"]
    try:
        return next((c for c in candidates if re.search(pattern, c)), sample)
    except re.error:
        return sample


def _example_array(name: str, schema: dict[str, Any]) -> list[Any]:
    items = schema.get("items")
    count = max(1, int(schema.get("minItems") or 1))
    if name in ("contexts", "documents"):
        if isinstance(items, dict) and (items.get("type") == "object" or "properties" in items):
            return [{"text": text} for text in _CONTEXTS]
        return list(_CONTEXTS)
    value = example_value(name.rstrip("s"), items) if isinstance(items, dict) else _DEFAULT_TEXT
    return [value] * count


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A schema's alternatives (`oneOf`/`anyOf`), or the schema itself."""
    for key in ("oneOf", "anyOf"):
        found = [b for b in schema.get(key) or [] if isinstance(b, dict)]
        if found:
            return found
    return [schema]


def _is_stream(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and {"body", "contentType"} <= set(
        schema.get("properties") or {})


def _is_byte_array(schema: dict[str, Any]) -> bool:
    items = schema.get("items")
    return (schema.get("type") == "array" and isinstance(items, dict)
            and items.get("type") in ("number", "integer"))
