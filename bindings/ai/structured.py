"""JSON mode: `response_format` and `guided_json` constrain a text-generation reply to JSON.

Cloudflare (developers.cloudflare.com/workers-ai/features/json-mode/) takes
`response_format: {"type": "json_object" | "json_schema", "json_schema": <JSON Schema>}`
(OpenAI's `{"json_schema": {"name", "schema", "strict"}}` wrapper is read too, as the
OpenAI-compatible endpoint receives it), and some models `guided_json: <JSON Schema>`.
The reply's `response` is then the parsed JSON value, not its text (the JSON-mode docs
show `"response": {"name": "India", ...}`); a reply that does not parse (cut by
`max_tokens`) stays text. Streams stay text: the frames carry the JSON as it is written.

`response_format()` normalizes both inputs to `{"type": "json_object"}` or
`{"type": "json_schema", "schema": {...}}` (`GenerationRequest.response_format`), which
each engine enforces its own way:

- llama.cpp: a GBNF grammar in the sequence's sampler chain (`grammar()`: llama-cpp-python's
  `json_schema_to_gbnf` for a schema, its `JSON_GBNF` for any JSON object), so every
  sampled token keeps the reply valid;
- vLLM: `response_format` (chat and completions alike), its structured-output backend;
- scripted: replies are scripted, not constrained (tests script the JSON they want).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from bindings.ai.errors import bad_input


def response_format(inputs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The normalized constraint of schema-validated inputs, or None for free text."""
    guided = inputs.get("guided_json")
    if guided is not None:
        return {"type": "json_schema", "schema": _schema(guided)}
    fmt = inputs.get("response_format")
    if not isinstance(fmt, Mapping):
        return None
    kind = fmt.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = fmt.get("json_schema")
        if isinstance(schema, Mapping) and isinstance(schema.get("schema"), Mapping) and (
            "name" in schema or "strict" in schema
        ):
            schema = schema["schema"]  # OpenAI's wrapper
        if schema is None:
            return {"type": "json_object"}
        return {"type": "json_schema", "schema": _schema(schema)}
    raise bad_input(f"Error: response_format type {kind!r} is not one of text, json_object, "
                    "json_schema")


def _schema(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # some clients send the schema as JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_input("Error: the JSON schema of the response format is not JSON") from None
    if not isinstance(value, Mapping):
        raise bad_input("Error: the JSON schema of the response format must be an object")
    return dict(value)


def grammar(fmt: Mapping[str, Any]) -> str:
    """The GBNF grammar (root rule `root`) enforcing `fmt` on llama.cpp; 5006 for a schema
    it cannot express."""
    schema = fmt.get("schema")
    return _grammar(json.dumps(schema) if schema is not None else "")  # keeps key order


@lru_cache(maxsize=64)
def _grammar(schema: str) -> str:
    from llama_cpp import llama_grammar

    if not schema:
        return llama_grammar.JSON_GBNF
    try:
        return llama_grammar.json_schema_to_gbnf(schema)
    except Exception as exc:  # the converter raises plain exceptions on unsupported schemas
        raise bad_input(f"Error: the response format's JSON schema cannot be enforced: "
                        f"{type(exc).__name__}: {exc}") from None


def parsed(text: str) -> Any:
    """A JSON-mode reply as Cloudflare returns it: the value, or the text if not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text
