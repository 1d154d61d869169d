"""The generic playground: a form built from a model's input schema, for any task that has
no playground of its own.

Each property of the input's object form becomes a field: text (a textarea for the long
ones), number, checkbox, a select for enums, a file picker for images and audio
(`examples.FileInput`: sent as bytes, base64 or a data URI, as the schema takes them),
JSON text for the rest. Required fields come first, prefilled from the page's example;
the others sit under "Options" and are sent only when set. The answer is shown as the
task makes it: an image or an audio player for raw bytes (by the response's content
type) or for base64 in the JSON result (`image`, `audio`), the result's main text (the
first of `TEXT_RESULTS` it has), and the result as JSON. A model whose required input
only a Worker can pass (a stream) has no playground.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bindings.ai.tasks.base import Playground
from bindings.ai.tasks.examples import FileInput, file_input, input_form

TEMPLATE = "playground_form.html"
#: string properties edited in a textarea rather than a one-line input.
LONG_TEXT = frozenset({"prompt", "text", "input_text", "query", "negative_prompt", "question",
                       "instructions", "initial_prompt", "state"})
#: result properties that carry a task's answer as text, in order of preference.
TEXT_RESULTS = ("response", "text", "summary", "translated_text", "description", "answer",
                "caption", "vtt")


@dataclass(frozen=True)
class Field:
    """One input of the form; `widget` is text, textarea, number, integer, checkbox,
    select, file or json."""

    name: str
    widget: str
    required: bool = False
    value: str = ""  # the initial value, as the widget holds it
    description: str = ""
    options: tuple[str, ...] = ()
    encoding: str = ""  # file fields: bytes, base64 or data_uri
    accept: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # min, max


def playground(entry: Any, example: dict[str, Any]) -> Playground | None:
    """The generic playground of `entry`, prefilled from `example`; None when its input
    cannot be sent from a page (no object form, or a required stream)."""
    form = input_form(entry.input_schema)
    if form is None:
        return None
    needed = set(form.get("required") or [])
    fields = []
    for name, schema in (form.get("properties") or {}).items():
        made = make_field(name, schema, name in needed, example.get(name))
        if made is None:
            if name in needed or name in example:
                return None
            continue
        fields.append(made)
    required = [f for f in fields if f.required or f.name in example]
    optional = [f for f in fields if f not in required]
    return Playground(TEMPLATE, {"fields": required, "options": optional,
                                 "output": output_kind(entry)})


def make_field(name: str, schema: Any, required: bool, example: Any) -> Field | None:
    """The field for one property; None for one a page cannot send (a stream)."""
    if not isinstance(schema, dict):
        schema = {}
    found = file_input(name, schema)
    if isinstance(found, FileInput):
        if found.streamed:
            return None
        return Field(name, "file", required, description=_text(schema),
                     encoding=found.encoding, accept=f"{found.kind}/*")
    kind = schema.get("type")
    branches = schema.get("oneOf") or schema.get("anyOf") or []
    if not kind and any(isinstance(b, dict) and b.get("type") == "string" for b in branches):
        kind = "string"
    facts = {label: schema[key] for label, key in (("min", "minimum"), ("max", "maximum"))
             if isinstance(schema.get(key), int | float)}
    value = "" if example is None else example
    if "default" in schema and example is None:
        value = schema["default"]
    description = _text(schema)
    if schema.get("enum"):
        options = tuple(str(option) for option in schema["enum"])
        return Field(name, "select", required, str(value), description, options)
    if kind == "string":
        widget = "textarea" if name in LONG_TEXT else "text"
        return Field(name, widget, required, str(value), description)
    if kind in ("integer", "number"):
        return Field(name, kind if kind == "integer" else "number", required,
                     "" if value == "" else json.dumps(value), description, facts=facts)
    if kind == "boolean":
        return Field(name, "checkbox", required, "true" if value is True else "", description)
    shown = "" if value == "" else json.dumps(value, indent=2)
    return Field(name, "json", required, shown, description)


def output_kind(entry: Any) -> dict[str, Any]:
    """How the page shows the answer: `binary` (the media type of raw bytes), `image` /
    `audio` (a JSON property holding base64), `text` (properties shown as text)."""
    props = (entry.json_output() or {}).get("properties") or {}
    base64_in = {key: key for key in ("image", "audio")
                 if isinstance(props.get(key), dict) and props[key].get("type") == "string"}
    return {
        "binary": entry.binary_output() or "",
        "image": base64_in.get("image", ""),
        "audio": base64_in.get("audio", ""),
        "text": [key for key in TEXT_RESULTS if key in props],
    }


def _text(schema: dict[str, Any]) -> str:
    return str(schema.get("description") or "")
