"""Input validation against a model's published JSON Schema, with Cloudflare's messages.

One compiled `jsonschema` validator per schema (cached by the schema's JSON text, so an
entry reloaded unchanged keeps its validator); valid inputs are recognised by its Rust
port `jsonschema_rs` (~1 µs instead of ~200), and only invalid ones pay for the Python
validator, which words the error. The schemas have no `$schema`, so they
are read as JSON Schema 2020-12: `true` is not an integer, `256.0` is (and is passed on
as `256`). The schema is what Cloudflare publishes; nothing is added or relaxed.

Violations raise `AiError(5006, "Error: ...")` worded as Workers AI words them, as seen
in its responses quoted in public issues (anomalyco/opencode#30381, Stackbilt-dev/
llm-providers#91: `5006: Error: oneOf at '/' not met, 0 matches: required properties at
'/' are 'prompt', Type mismatch of '/messages/0/content', 'array' not in 'string',
required properties at '/messages/1' are 'role,content'`; flux-1-schnell users:
`Additional or unevaluated properties '/num_steps' at '/' not allowed`). Those phrasings
are copied: each branch's failures in order, `required` listing the schema's whole
required set. For bounds, lengths and enums Cloudflare's wording is not public, so they
follow the same `<keyword> at '<JSON pointer>' not met, <detail>` form:

=============  ==================================================================
constraint     message
=============  ==================================================================
type           `Type mismatch of '/max_tokens', 'boolean' not in 'integer'`
required       `required properties at '/messages/0' are 'role,content'`
oneOf (0)      `oneOf at '/' not met, 0 matches: <each branch's failures>`
oneOf (2+)     `oneOf at '/' not met, 2 matches: 'prompt' and 'messages' are
               alternatives, give only one`
maxLength      `maxLength at '/prompt' not met, length 4097 > 4096`
minimum        `minimum at '/top_k' not met, 0 < 1` (maximum, exclusive*: alike)
enum           `enum at '/x' not met, 'c' not in 'a,b'`
=============  ==================================================================

On success the inputs come back as a new dict holding only the keys the matched branch
declares (others are reported by `ignored_keys`, never forwarded), with that branch's
`default`s filled in (`max_tokens` 256, `stream` false, `raw` false, ...). A schema that
declares no property at all (the two records Cloudflare publishes without one) keeps
every key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import validator_for

from bindings.ai.errors import AiError

try:  # Rust validator for the hot path; `jsonschema` stays the authority and the wording.
    import jsonschema_rs
except ImportError:  # pragma: no cover - a declared dependency, but optional here
    jsonschema_rs = None


@dataclass(frozen=True)
class Checked:
    """The outcome of `check_inputs`: normalized inputs, dropped keys, matched branch."""

    inputs: dict[str, Any]
    ignored: list[str]
    branch: int | None


@dataclass(frozen=True)
class _Branch:
    declared: frozenset[str]
    required: tuple[str, ...]
    defaults: tuple[tuple[str, Any], ...]
    integers: frozenset[str]


def _branch(root: Mapping[str, Any], sub: Mapping[str, Any]) -> _Branch:
    props = {**(root.get("properties") or {}), **(sub.get("properties") or {})}
    required = tuple(dict.fromkeys([*(root.get("required") or ()), *(sub.get("required") or ())]))
    return _Branch(
        declared=frozenset(props),
        required=required,
        defaults=tuple((k, v["default"]) for k, v in props.items()
                       if isinstance(v, Mapping) and "default" in v),
        integers=frozenset(k for k, v in props.items()
                           if isinstance(v, Mapping) and v.get("type") == "integer"),
    )


class InputValidator:
    """A model's compiled input schema (see the module docstring)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        cls = validator_for(schema, default=Draft202012Validator)
        self.schema = schema
        self._validator = cls(schema)
        subs = schema.get("oneOf") or schema.get("anyOf")
        self._branches = [_branch(schema, sub) for sub in subs] if subs else [_branch(schema, {})]
        self._branch_validators = [cls(sub) for sub in subs] if subs else None
        self._fast = None
        if jsonschema_rs is not None and cls is Draft202012Validator:
            try:
                self._fast = jsonschema_rs.Draft202012Validator(dict(schema))
            except Exception:  # a schema the Rust port cannot compile: Python only
                self._fast = None

    def _fast_valid(self, inputs: Any) -> bool:
        if self._fast is None:
            return False
        try:
            return self._fast.is_valid(inputs)
        except Exception:  # values that are not JSON (bytes, objects): Python decides
            return False

    def check(self, inputs: Any) -> Checked:
        if not self._fast_valid(inputs):
            errors = list(self._validator.iter_errors(inputs))
            if errors:
                raise AiError(5006, "Error: " + self._describe(errors, inputs))
        if not isinstance(inputs, Mapping):  # a user schema without `"type": "object"`
            return Checked(inputs, [], None)
        index = self._matched(inputs)
        branch = self._branches[index]
        if not branch.declared:  # a model published without a schema: nothing to drop
            return Checked(dict(inputs), [], None)
        out: dict[str, Any] = {}
        ignored: list[str] = []
        for key, value in inputs.items():
            if key not in branch.declared:
                ignored.append(key)
            elif key in branch.integers and isinstance(value, float):
                out[key] = int(value)
            elif isinstance(value, list):
                # Copies, so the engine never sees (or mutates) the caller's objects.
                out[key] = [dict(v) if isinstance(v, dict) else v for v in value]
            else:
                out[key] = value
        for key, default in branch.defaults:
            if key not in out:
                out[key] = _copy(default)
        return Checked(out, ignored, index if self._branch_validators else None)

    def ignored_keys(self, inputs: Mapping[str, Any]) -> list[str]:
        """Keys the matched branch does not declare (any branch, if none matches)."""
        if not isinstance(inputs, Mapping):
            return []
        if self._validator.is_valid(inputs):
            declared = self._branches[self._matched(inputs)].declared
        else:
            declared = frozenset().union(*(b.declared for b in self._branches))
        return [key for key in inputs if key not in declared]

    def _matched(self, inputs: Mapping[str, Any]) -> int:
        if self._branch_validators is None:
            return 0
        # The valid branch has all its required keys; usually only one branch does.
        candidates = [i for i, b in enumerate(self._branches)
                      if all(k in inputs for k in b.required)]
        if len(candidates) == 1:
            return candidates[0]
        for i in candidates or range(len(self._branches)):
            if self._branch_validators[i].is_valid(inputs):
                return i
        return 0

    # -- messages ---------------------------------------------------------------------
    def _describe(self, errors: list[ValidationError], instance: Any) -> str:
        root_type = [e for e in errors if not e.absolute_path and e.validator == "type"]
        if root_type:  # properties and branches mean nothing for a non-object
            errors = root_type
        return ", ".join(_unique(m for e in errors for m in self._messages(e)))

    def _messages(self, error: ValidationError) -> list[str]:
        where = _pointer(error.absolute_path)
        kind, value, inst = error.validator, error.validator_value, error.instance
        if kind in ("oneOf", "anyOf"):
            matches = [i for i, sub in enumerate(value)
                       if self._validator.evolve(schema=sub).is_valid(inst)]
            head = f"{kind} at '{where}' not met, {len(matches)} matches"
            if matches:
                names = [_label(value[i]) for i in matches]
                return [f"{head}: {' and '.join(names)} are alternatives, give only one"]
            subs = sorted(error.context or (), key=lambda e: e.relative_schema_path[0])
            inner = _unique(m for sub in subs for m in self._messages(sub))
            return [f"{head}: {', '.join(inner)}" if inner else head]
        if kind == "type":
            expected = value if isinstance(value, str) else ",".join(value)
            return [f"Type mismatch of '{where}', '{_json_type(inst)}' not in '{expected}'"]
        if kind == "required":
            return [f"required properties at '{where}' are '{','.join(value)}'"]
        if kind in ("additionalProperties", "unevaluatedProperties"):
            extra = _extra_keys(error)
            names = ", ".join(_pointer([*error.absolute_path, k]) for k in extra)
            return [f"Additional or unevaluated properties '{names}' at '{where}' not allowed"]
        if kind in ("maxLength", "minLength"):
            op = ">" if kind == "maxLength" else "<"
            return [f"{kind} at '{where}' not met, length {len(inst)} {op} {value}"]
        if kind in ("maxItems", "minItems", "maxProperties", "minProperties"):
            op = ">" if kind.startswith("max") else "<"
            return [f"{kind} at '{where}' not met, {len(inst)} items {op} {value}"]
        if kind in ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum"):
            op = {"maximum": ">", "minimum": "<", "exclusiveMaximum": ">=",
                  "exclusiveMinimum": "<="}[kind]
            return [f"{kind} at '{where}' not met, {_num(inst)} {op} {_num(value)}"]
        if kind == "enum":
            allowed = ",".join(json.dumps(v) if not isinstance(v, str) else v for v in value)
            return [f"enum at '{where}' not met, {_short(inst)} not in '{allowed}'"]
        return [f"{kind} at '{where}' not met: {error.message}"]


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(items))


def _pointer(path: Any) -> str:
    """RFC 6901 JSON pointer; the root is `/`, as Cloudflare writes it."""
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _num(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 60 else text[:57] + "..."


def _label(sub: Mapping[str, Any]) -> str:
    required = sub.get("required") or []
    return ",".join(f"'{k}'" for k in required) if required else "a branch"


def _extra_keys(error: ValidationError) -> list[str]:
    inst, schema = error.instance, error.schema
    if not isinstance(inst, Mapping):
        return []
    props = schema.get("properties") or {}
    return [k for k in inst if k not in props]


def _copy(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.loads(json.dumps(value))
    return value


_cache: dict[str, InputValidator] = {}


def validator_for_entry(entry: Any) -> InputValidator:
    """The cached compiled validator of a catalogue entry's input schema."""
    key = getattr(entry, "input_schema_text", None)
    if not key:
        key = json.dumps(entry.input_schema, sort_keys=True)
    validator = _cache.get(key)
    if validator is None:
        validator = _cache[key] = InputValidator(entry.input_schema)
    return validator


def check_inputs(entry: Any, inputs: Any) -> Checked:
    """Validate and normalize; `AiError` 5006 on any violation."""
    return validator_for_entry(entry).check(inputs)


def validate_inputs(entry: Any, inputs: Any) -> dict[str, Any]:
    """A new dict: only declared keys, defaults of the matched branch applied; or 5006."""
    return check_inputs(entry, inputs).inputs


def ignored_keys(entry: Any, inputs: Any) -> list[str]:
    """The input keys the model's schema does not declare (dropped, never forwarded)."""
    return validator_for_entry(entry).ignored_keys(inputs)
