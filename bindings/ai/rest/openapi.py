"""The OpenAPI 3.1 document of the REST API, generated from the catalogue's own schemas.

Each catalogue model gets its own run path (`.../ai/run/@cf/meta/llama-2-7b-chat-fp16`)
whose request body is the model's input JSON Schema verbatim (OpenAPI 3.1 schemas are
JSON Schema 2020-12), and whose 200 answer is the envelope around the JSON branch of the
model's output schema, or the SSE branch. Cloudflare publishes the same per-model
schemas through `GET .../ai/models/schema`.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator import __version__

ACCOUNT_PREFIX = "/client/v4/accounts/{account_id}/ai"

_ACCOUNT = {
    "name": "account_id",
    "in": "path",
    "required": True,
    "description": "Any account identifier: the emulator serves every account alike.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}
_ERROR_ENTRY = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
}
_COMPONENTS: dict[str, Any] = {
    "ErrorEnvelope": {
        "type": "object",
        "required": ["result", "success", "errors", "messages"],
        "properties": {
            "result": {"type": "null"},
            "success": {"const": False},
            "errors": {"type": "array", "minItems": 1, "items": _ERROR_ENTRY},
            "messages": {"type": "array"},
        },
    },
    "OpenAIError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["integer", "string", "null"]},
                },
            }
        },
    },
}


#: One server-sent event (as OpenAPI 3.2's `itemSchema` has it; tools reading 3.1, e.g.
#: schemathesis, take an event stream's `schema` to describe each event): `data` is a JSON
#: text, or `[DONE]` at the end; `event: error` marks a failure after the stream started.
_SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}


def _envelope(result: dict[str, Any], *, paginated: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["result", "success", "errors", "messages"],
        "properties": {
            "result": result,
            "success": {"const": True},
            "errors": {"type": "array", "maxItems": 0},
            "messages": {"type": "array"},
        },
    }
    if paginated:
        schema["properties"]["result_info"] = {
            "type": "object",
            "properties": {
                key: {"type": "integer"} for key in ("page", "per_page", "count", "total_count")
            },
        }
    return schema


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(component: str = "ErrorEnvelope") -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{component}"}
    return {
        "4XX": _json(ref, "Rejected: the error envelope names the code and what is wrong"),
        "5XX": _json(ref, "The engine failed"),
    }


def _run_path(entry: Any) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"run:{entry.name}",
            "summary": f"Run {entry.name}",
            "description": entry.description,
            "tags": [entry.task_name],
            "parameters": [_ACCOUNT],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": copy.deepcopy(entry.input_schema)}},
            },
            "responses": {
                "200": {
                    "description": "The result (JSON), or with `stream: true` an SSE stream",
                    "content": {
                        "application/json": {
                            "schema": _envelope(copy.deepcopy(entry.json_output()))
                        },
                        "text/event-stream": {"schema": _SSE_EVENT},
                    },
                },
                **_errors(),
            },
        }
    }


def _chat_models(entries: list[Any]) -> list[str]:
    return [entry.name for entry in entries if entry.accepts_messages()]


def _chat_path(models: list[str]) -> dict[str, Any]:
    message = {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
            "content": {"type": "string"},
        },
    }
    number = {"type": "number"}
    request = {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": {"enum": models} if models else {"type": "string"},
            "messages": {"type": "array", "minItems": 1, "items": message},
            "max_tokens": {"type": "integer", "minimum": 1},
            "max_completion_tokens": {"type": "integer", "minimum": 1},
            "temperature": number,
            "top_p": number,
            "seed": {"type": "integer"},
            "frequency_penalty": number,
            "presence_penalty": number,
            "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "stream": {"type": "boolean"},
            "stream_options": {
                "type": "object",
                "properties": {"include_usage": {"type": "boolean"}},
            },
        },
    }
    completion = {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "chat.completion"},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {"type": "array"},
            "usage": {"type": "object"},
        },
    }
    return {
        "post": {
            "operationId": "openai:chat.completions",
            "summary": "OpenAI-compatible chat completions",
            "tags": ["OpenAI compatible"],
            "parameters": [_ACCOUNT],
            "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
            "responses": {
                "200": {
                    "description": "A chat.completion, or chat.completion.chunk SSE frames",
                    "content": {
                        "application/json": {"schema": completion},
                        "text/event-stream": {"schema": _SSE_EVENT},
                    },
                },
                **_errors("OpenAIError"),
            },
        }
    }


def _get(operation_id: str, summary: str, parameters: list[dict], result: dict, **kw) -> dict:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["Catalogue"],
            "parameters": [_ACCOUNT, *parameters],
            "responses": {"200": _json(_envelope(result, **kw), summary), **_errors()},
        }
    }


def _query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def build_openapi(catalogue: Any, *, server_url: str | None = None, secured: bool = False) -> dict:
    """The OpenAPI 3.1 document for a catalogue (`secured`: bearer token required)."""
    entries = sorted(catalogue.entries(), key=lambda entry: entry.name)
    names = [entry.name for entry in entries]
    paths: dict[str, Any] = {}
    for entry in entries:
        paths[f"{ACCOUNT_PREFIX}/run/{entry.name}"] = _run_path(entry)
    paths[f"{ACCOUNT_PREFIX}/models/search"] = _get(
        "models.search",
        "Search the model catalogue",
        [
            _query("search", {"type": "string"}, "Words in the model's name or description"),
            _query("task", {"type": "string"}, "Task name, e.g. Text Generation"),
            _query("author", {"type": "string"}, "Author, e.g. meta"),
            _query("source", {"type": "integer", "minimum": 0}, "Source id"),
            _query("hide_experimental", {"type": "boolean"}, "Hide experimental models"),
            _query("page", {"type": "integer", "minimum": 1, "maximum": 1000000}, "Page"),
            _query("per_page", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size"),
        ],
        {"type": "array", "items": {"type": "object"}},
        paginated=True,
    )
    paths[f"{ACCOUNT_PREFIX}/models/schema"] = _get(
        "models.schema",
        "A model's input and output JSON Schemas",
        [_query("model", {"enum": names} if names else {"type": "string"}, "Model name", True)],
        {"type": "object", "required": ["input", "output"]},
    )
    paths[f"{ACCOUNT_PREFIX}/tasks/search"] = _get(
        "tasks.search", "The catalogue's tasks", [], {"type": "array"}
    )
    paths[f"{ACCOUNT_PREFIX}/authors/search"] = _get(
        "authors.search", "The catalogue's authors", [], {"type": "array"}
    )
    paths[f"{ACCOUNT_PREFIX}/v1/chat/completions"] = _chat_path(_chat_models(entries))
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "edge: Workers AI REST API (local emulator)",
            "version": __version__,
            "description": "Cloudflare's Workers AI REST paths, served by your own engines.",
        },
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(_COMPONENTS),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    if secured:
        document["security"] = [{"bearer": []}]
    return document


async def openapi_endpoint(request: Request) -> Response:
    state = request.app.state
    server = str(request.base_url).rstrip("/")
    document = build_openapi(
        state.service.catalogue, server_url=server, secured=state.api_token is not None
    )
    return JSONResponse(document)
