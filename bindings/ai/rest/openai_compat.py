"""`POST /client/v4/accounts/{account_id}/ai/v1/chat/completions`: the OpenAI-compatible API.

Cloudflare documents OpenAI-compatible endpoints for chat completions and embeddings
(https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/): the
OpenAI SDKs work with `base_url=.../accounts/{account_id}/ai/v1` and a catalogue model
name. Bodies follow OpenAI's Chat Completions API: `chat.completion` objects, streamed
`chat.completion.chunk` frames ending in `data: [DONE]`, and a usage-only last chunk
when `stream_options.include_usage` is set.

OpenAI parameter -> catalogue input (then validated by the model's own JSON Schema, so
out-of-range values get the same 5006 errors as `env.AI.run`):

| OpenAI                                   | Workers AI input                         |
|------------------------------------------|------------------------------------------|
| `messages` (text parts joined by "\n",    | `messages` (`developer` role -> `system`) |
| `chat_templates.flatten_content`)        |                                          |
| `max_completion_tokens` / `max_tokens`   | `max_tokens`                             |
| `temperature`, `top_p`, `seed`           | same names                               |
| `frequency_penalty`, `presence_penalty`  | same names                               |
| `tools`                                  | `tools` (when the model's schema has it) |
| `tool_choice`, `response_format`         | down to the engine (`bindings.ai.tools`, |
|                                          | `bindings.ai.structured`), unvalidated   |
|                                          | where the schema does not declare them   |
| assistant `tool_calls`, `role: tool`     | kept on the messages (`tool_call_id`,    |
| messages with `tool_call_id`             | `name`), for the template to render      |
| `stop` (string or list)                  | `stop`, down to the engine (unvalidated: |
|                                          | most schemas do not declare it)          |
| `n`                                      | only 1                                   |

Tool calls come back as OpenAI's `message.tool_calls` (`id`, `type: "function"`,
`function.arguments` as JSON text), `content: null`, `finish_reason: "tool_calls"`;
streamed, as one delta frame per call (`index`, `id`, `type`, `function.name` and the
whole `arguments`), as vLLM streams a call whose arguments are complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bindings.ai.chat_completion import chunk_frames, completion_body, new_head
from bindings.ai.chat_templates import flatten_content
from bindings.ai.rest.envelope import bad_input, read_json_object, required_model
from bindings.ai.rest.sse import SSEResponse
from emulator.sdk.attrdict import unwrap

_SAMPLING = ("temperature", "top_p", "seed", "frequency_penalty", "presence_penalty")
_ERROR_TYPES = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}


def openai_error(code: int | str, message: str, status: int) -> JSONResponse:
    """OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


@dataclass
class ChatRequest:
    model: str
    inputs: dict[str, Any]
    stream: bool = False
    include_usage: bool = False
    stops: list[str] = field(default_factory=list)
    #: keys passed down unvalidated (schemas that do not declare them still honour them).
    passed: dict[str, Any] = field(default_factory=dict)


def parse_chat_request(body: dict[str, Any]) -> ChatRequest:
    """Map an OpenAI chat-completions body onto catalogue inputs (see the module table)."""
    model = required_model(body, "@cf/meta/llama-2-7b-chat-fp16")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_input("'messages' is required: a non-empty array of {role, content} objects")
    inputs: dict[str, Any] = {"messages": [_message(m, i) for i, m in enumerate(messages)]}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        inputs["max_tokens"] = max_tokens
    for name in _SAMPLING:
        if body.get(name) is not None:
            inputs[name] = body[name]
    if body.get("tools"):
        inputs["tools"] = body["tools"]
    passed = {key: body[key] for key in ("tool_choice", "response_format")
              if body.get(key) is not None}
    if "tool_choice" in passed and not body.get("tools"):
        del passed["tool_choice"]
    n = body.get("n")
    if n is not None and n != 1:
        raise bad_input("'n' must be 1: one choice per request")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise bad_input("'stream' must be a boolean")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise bad_input("'stream_options' must be an object")
    return ChatRequest(
        model=model,
        inputs=inputs,
        stream=stream,
        include_usage=bool(options.get("include_usage")) and stream,
        stops=_stops(body.get("stop")),
        passed=passed,
    )


def _message(message: Any, index: int) -> dict[str, Any]:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise bad_input(f"messages[{index}] must be an object with a string 'role'")
    role = "system" if message["role"] == "developer" else message["role"]
    try:
        content = flatten_content(message.get("content"))
    except ValueError as exc:
        raise bad_input(f"messages[{index}].{exc}") from None
    out = {"role": role, "content": content}
    for key in ("tool_calls", "tool_call_id", "name"):
        if message.get(key) is not None:
            out[key] = message[key]
    return out


def _stops(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop) and len(stop) <= 4:
        return stop
    raise bad_input("'stop' must be a string or an array of at most 4 strings")


async def chat_completions(request: Request) -> Response:
    state = request.app.state
    chat = parse_chat_request(await read_json_object(request, state.max_body_bytes))
    service = state.service
    max_tokens = _effective_max_tokens(service, chat)
    head = new_head(chat.model)
    unchecked = {**({"stop": chat.stops} if chat.stops else {}), **chat.passed} or None
    if chat.stream:
        inputs = {**chat.inputs, "stream": True}
        stream = await service.run(chat.model, inputs, unchecked=unchecked)
        frames = chunk_frames(stream.chunks(), head, include_usage=chat.include_usage,
                              max_tokens=max_tokens)
        return SSEResponse(frames, on_close=stream.aclose)
    result = await service.run(chat.model, chat.inputs, unchecked=unchecked)
    if result.get("object") == "chat.completion":  # the model answers in this shape itself
        return JSONResponse(unwrap(result))
    return JSONResponse(completion_body(head, result, max_tokens))


def _effective_max_tokens(service: Any, chat: ChatRequest) -> int | None:
    """`max_tokens` after the schema's default, to tell "length" from "stop" finishes."""
    value = chat.inputs.get("max_tokens")
    if value is None:
        value = service.catalogue.get(chat.model).input_default("max_tokens")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
