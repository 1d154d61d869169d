"""JSON Schema -> the parameter tree a catalogue page shows.

Mirrors the "Parameters" section of Cloudflare's model pages: every property with its
type (or "one of"), default, min and max (from `minimum`/`minLength`/`minItems` and their
`max` twins) and description, nested properties, array `items`, `additionalProperties`,
and each `oneOf` branch (the input's "Prompt" and "Messages" forms).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_MIN = ("minimum", "minLength", "minItems", "exclusiveMinimum")
_MAX = ("maximum", "maxLength", "maxItems", "exclusiveMaximum")


@dataclass
class Param:
    name: str
    type: str
    description: str = ""
    required: bool = False
    facts: list[tuple[str, str]] = field(default_factory=list)  # ("default", "256"), ...
    children: list[Param] = field(default_factory=list)

    def walk(self):
        """This node and every node below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def branch_title(branch: dict[str, Any], index: int) -> str:
    """A oneOf branch's name: its `title`, else its first required property ("Prompt")."""
    if branch.get("title"):
        return str(branch["title"])
    required = branch.get("required") or []
    if required:
        return str(required[0]).replace("_", " ").capitalize()
    return str(index)


def top_level(schema: dict[str, Any]) -> list[Param]:
    """The forms a schema accepts: one node per `oneOf` branch, or the object itself."""
    if not isinstance(schema, dict):
        return []
    branches = schema.get("oneOf") or schema.get("anyOf")
    if isinstance(branches, list) and branches:
        named = any("properties" in b for b in branches if isinstance(b, dict))
        return [
            describe(branch_title(b, i) if named else str(i), b, inherit_type=schema.get("type"))
            for i, b in enumerate(branches)
            if isinstance(b, dict)
        ]
    return [describe("input", schema)]


def describe(name: str, schema: Any, *, required: bool = False, inherit_type: Any = None) -> Param:
    if not isinstance(schema, dict):
        return Param(name=name, type="any", required=required)
    node = Param(
        name=name,
        type=_type_label(schema, inherit_type),
        description=str(schema.get("description") or ""),
        required=required,
        facts=_facts(schema),
    )
    needed = set(schema.get("required") or [])
    for prop, sub in (schema.get("properties") or {}).items():
        node.children.append(describe(prop, sub, required=prop in needed))
    for key in ("oneOf", "anyOf"):
        if schema.get(key) and "properties" not in schema:
            for i, branch in enumerate(schema[key]):
                node.children.append(describe(str(i), branch))
        elif schema.get(key):
            # an object with properties *and* alternative branches: show each branch whole
            for i, branch in enumerate(schema[key]):
                node.children.append(describe(branch_title(branch, i), branch))
    if isinstance(schema.get("items"), dict):
        node.children.append(describe("items", schema["items"]))
    if isinstance(schema.get("additionalProperties"), dict):
        node.children.append(describe("additionalProperties", schema["additionalProperties"]))
    return node


def _type_label(schema: dict[str, Any], inherit: Any) -> str:
    kind = schema.get("type", inherit)
    if (schema.get("oneOf") or schema.get("anyOf")) and "properties" not in schema:
        return "one of"
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind:
        return str(kind)
    if "enum" in schema:
        return "enum"
    if "const" in schema:
        return "const"
    return "object" if "properties" in schema else "any"


def _facts(schema: dict[str, Any]) -> list[tuple[str, str]]:
    facts = []
    if "default" in schema:
        facts.append(("default", _show(schema["default"])))
    for label, keys in (("min", _MIN), ("max", _MAX)):
        for key in keys:
            if key in schema:
                facts.append((label, _show(schema[key])))
                break
    if "enum" in schema:
        facts.append(("one of", ", ".join(_show(v) for v in schema["enum"])))
    if "contentType" in schema:  # Cloudflare's output branches name their media type
        facts.append(("content type", str(schema["contentType"])))
    if "format" in schema:
        facts.append(("format", str(schema["format"])))
    return facts


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
