"""The Responses API models (`@cf/openai/gpt-oss-120b`, `-20b`): `instructions` + `input`
in, an OpenAI Response object out, streamed as Response events.

Cloudflare serves gpt-oss with OpenAI's Responses API shape (developers.cloudflare.com/
workers-ai/models/gpt-oss-120b: `env.AI.run(model, {instructions, input, reasoning})`;
the records' schemas declare `input` and `reasoning`, the docs' examples `instructions`
too). Requests follow OpenAI's Responses reference (openai-python `types/responses/`,
vLLM `entrypoints/openai/protocol.py` `ResponsesRequest`/`ResponsesResponse`, which
Cloudflare's answers match):

- `input`: a string (one user turn) or a list of items: messages `{role, content}`
  (`developer` is `system`; content a string or `input_text`/`output_text` parts; image
  parts are a 5006 on the text-only stand-in), `function_call` items (earlier calls) and
  `function_call_output` items (their results); earlier `reasoning` items are dropped, as
  gpt-oss's own format drops past reasoning. `instructions` opens the conversation as
  the system message.
- also taken (`EXTRA_SCHEMA`, checked with the catalogue's validator and wording):
  `stream`, `max_output_tokens` (default `DEFAULT_MAX_OUTPUT_TOKENS`), `temperature`,
  `top_p`, `tools` (function tools, `bindings.ai.tools`), `tool_choice`, `text.format`
  (JSON mode, `bindings.ai.structured`), and `metadata`, `store`, `user`,
  `parallel_tool_calls`, `truncation`, `include`, `service_tier`, `background: false`,
  which change nothing locally and are echoed. `previous_response_id` is a 5006: edge
  stores no responses, so send the whole conversation in `input`.
- `reasoning.effort` goes to a chat endpoint as `reasoning_effort` (vLLM serving real
  gpt-oss). The stand-in has no reasoning channel, so its answer has no `reasoning`
  item and `reasoning_tokens` is 0, rather than an invented one.

The answer: `{"id": "resp_...", "object": "response", "created_at", "model", "status"
("completed", or "incomplete" with `incomplete_details.reason` "max_output_tokens"),
"output": [message item with an `output_text` part | `function_call` items],
"usage": {input_tokens, output_tokens, total_tokens, *_details}, ...the request's
settings echoed}`. `output_text` is not a field: the openai SDK computes it from
`output` (workers read `output[i].content[j].text`).

Streamed (`stream: true`), the SSE events OpenAI defines, each `event: <type>` with
`type` and `sequence_number` in its data: `response.created`, `response.in_progress`,
per item `response.output_item.added`, (`response.content_part.added`,
`response.output_text.delta`..., `response.output_text.done`,
`response.content_part.done` | `response.function_call_arguments.delta`,
`response.function_call_arguments.done`), `response.output_item.done`, then
`response.completed` (or `response.incomplete`); no `[DONE]`. An engine failure after
the start is an `error` event, and the stream ends.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bindings.ai import tools
from bindings.ai.chat_templates import flatten_content
from bindings.ai.engines.base import GenerationRequest, ToolCall, Usage
from bindings.ai.errors import AiError, bad_input
from bindings.ai.streaming import AiStream, collect, sse_frame
from emulator.sdk.attrdict import wrap

DEFAULT_MAX_OUTPUT_TOKENS = 1024

#: the Responses API keys the published schemas leave out, as JSON Schema.
EXTRA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "instructions": {"type": ["string", "null"]},
        "stream": {"type": "boolean"},
        "max_output_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"type": ["string", "object"]},
        "text": {"type": "object"},
        "metadata": {"type": "object"},
        "store": {"type": "boolean"},
        "user": {"type": "string"},
        "parallel_tool_calls": {"type": "boolean"},
        "truncation": {"type": "string", "enum": ["auto", "disabled"]},
        "include": {"type": "array"},
        "service_tier": {"type": "string"},
        "background": {"const": False},
        "previous_response_id": {"type": "string"},
    },
}
_ECHOED = ("instructions", "metadata", "parallel_tool_calls", "temperature", "top_p",
           "tool_choice", "tools", "text", "truncation", "user", "store", "service_tier")


def takes_responses(entry: Any) -> bool:
    """Whether a catalogue model speaks the Responses API (`input`, no `messages`)."""
    return entry.accepts("input") and not entry.accepts("messages")


def extra_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The `EXTRA_SCHEMA` keys of `inputs`, checked (5006 in the catalogue's wording)."""
    from bindings.ai.validation import InputValidator

    present = {key: inputs[key] for key in EXTRA_SCHEMA["properties"] if key in inputs}
    if not present:
        return {}
    checked = _validator(InputValidator).check(present).inputs
    if "previous_response_id" in checked:
        raise bad_input("Error: previous_response_id is not supported locally (edge stores "
                        "no responses): send the whole conversation in 'input'")
    return checked


_compiled: list[Any] = []


def _validator(cls: Any) -> Any:
    if not _compiled:
        _compiled.append(cls(EXTRA_SCHEMA))
    return _compiled[0]


@dataclass
class ResponsesRequest:
    """A Responses request: the engine request and what the Response object echoes."""

    generation: GenerationRequest
    settings: dict[str, Any] = field(default_factory=dict)
    reasoning: dict[str, Any] = field(default_factory=dict)


def to_messages(instructions: Any, items: Any) -> list[dict[str, Any]]:
    """`instructions` and `input` as chat messages (see the module docstring)."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    for index, item in enumerate(items or ()):
        if not isinstance(item, Mapping):
            raise bad_input(f"Error: input[{index}] must be an object, not "
                            f"{type(item).__name__}")
        kind = item.get("type", "message")
        if kind == "message" and isinstance(item.get("role"), str):
            role = "system" if item["role"] == "developer" else item["role"]
            try:
                content = flatten_content(item.get("content"))
            except ValueError as exc:
                raise bad_input(f"Error: input[{index}].{exc} (the local model reads text)"
                                ) from None
            messages.append({"role": role, "content": content})
        elif kind == "function_call":
            call = {"id": item.get("call_id") or item.get("id") or f"call_{index}",
                    "type": "function",
                    "function": {"name": item.get("name", ""),
                                 "arguments": item.get("arguments") or "{}"}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and last.get("tool_calls"):
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"),
                             "content": output if isinstance(output, str)
                             else json.dumps(output)})
        elif kind == "reasoning":
            continue
        else:
            raise bad_input(f"Error: input[{index}] is a {kind!r} item; the local model "
                            "takes messages, function_call and function_call_output items")
    return messages


def chat_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Responses inputs as the chat inputs `text_generation.build_request` takes."""
    out: dict[str, Any] = {
        "messages": to_messages(inputs.get("instructions"), inputs.get("input")),
        "max_tokens": inputs.get("max_output_tokens", DEFAULT_MAX_OUTPUT_TOKENS),
        "stream": bool(inputs.get("stream", False)),
    }
    for key in ("temperature", "top_p"):
        if inputs.get(key) is not None:
            out[key] = inputs[key]
    offered = inputs.get("tools") or []
    unknown = [tool.get("type") for tool in offered if tool.get("type", "function") != "function"]
    if unknown:
        raise bad_input(f"Error: tools of type {', '.join(map(str, unknown))} are hosted by "
                        "OpenAI and not available locally: only function tools")
    if offered:
        out["tools"] = offered
        if inputs.get("tool_choice") is not None:
            out["tool_choice"] = inputs["tool_choice"]
    fmt = (inputs.get("text") or {}).get("format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        out["response_format"] = {"type": "json_schema", "json_schema": dict(fmt)}
    elif isinstance(fmt, Mapping) and fmt.get("type") == "json_object":
        out["response_format"] = {"type": "json_object"}
    return out


def settings_of(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The request settings a Response object echoes (OpenAI's defaults where unset)."""
    return {
        "instructions": inputs.get("instructions"),
        "max_output_tokens": inputs.get("max_output_tokens"),
        "metadata": inputs.get("metadata") or {},
        "parallel_tool_calls": inputs.get("parallel_tool_calls", True),
        "temperature": inputs.get("temperature", 1.0),
        "top_p": inputs.get("top_p", 1.0),
        "tool_choice": inputs.get("tool_choice", "auto"),
        "tools": list(inputs.get("tools") or []),
        "text": inputs.get("text") or {"format": {"type": "text"}},
        "truncation": inputs.get("truncation", "disabled"),
        "user": inputs.get("user"),
        "store": inputs.get("store", False),
        "service_tier": inputs.get("service_tier", "auto"),
    }


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def message_item(text: str, item_id: str, status: str = "completed") -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"id": item_id, "type": "message", "role": "assistant", "status": status,
            "content": [part] if status == "completed" else []}


def call_item(call: ToolCall, item_id: str, status: str = "completed") -> dict[str, Any]:
    arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(
        call.arguments, ensure_ascii=False)
    return {"id": item_id, "type": "function_call", "status": status,
            "call_id": call.id or _id("call"), "name": call.name,
            "arguments": arguments if status == "completed" else ""}


def usage_of(usage: Usage | None) -> dict[str, Any]:
    usage = usage or Usage(0, 0)
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


class _Response:
    """The Response object being built (one per request)."""

    def __init__(self, request: ResponsesRequest) -> None:
        self.request = request
        self.id = _id("resp")
        self.created_at = int(time.time())

    def body(self, output: list[dict[str, Any]], usage: Usage | None,
             status: str) -> dict[str, Any]:
        incomplete = None
        limit = self.request.generation.max_tokens
        if status == "completed" and usage is not None and usage.completion_tokens >= limit:
            status, incomplete = "incomplete", {"reason": "max_output_tokens"}
        return {
            "id": self.id, "object": "response", "created_at": self.created_at,
            "model": self.request.generation.model, "status": status,
            "background": False, "error": None, "incomplete_details": incomplete,
            "output": output,
            "reasoning": {"effort": self.request.reasoning.get("effort"),
                          "summary": self.request.reasoning.get("summary")},
            "previous_response_id": None,
            "usage": usage_of(usage) if status != "in_progress" else None,
            **self.request.settings,
        }


async def run(engine: Any, request: ResponsesRequest) -> Any:
    """Run a Responses request: the Response object, or a `ResponsesStream`."""
    generation = request.generation
    source = engine.generate(generation)
    if generation.tools:
        source = tools.split_calls(source, generation.tools)
    if generation.stream:
        stream = ResponsesStream(source, model=generation.model, engine=engine.name)
        stream.response = _Response(request)
        return await stream.start()
    calls: list[ToolCall] = []
    text, usage = await collect(source, model=generation.model, calls=calls)
    output = [call_item(call, _id("fc")) for call in calls]
    if text or not calls:
        output.insert(0, message_item(text, _id("msg")))
    return wrap(_Response(request).body(output, usage, "completed"))


class ResponsesStream(AiStream):
    """An `AiStream` whose frames are Response events (the module docstring)."""

    response: _Response

    async def _frames(self) -> AsyncIterator[bytes]:
        events = self._events()
        sequence = 0
        output: list[dict[str, Any]] = []
        text: list[str] = []
        message: dict[str, Any] | None = None

        def event(kind: str, **data: Any) -> bytes:
            nonlocal sequence
            sequence += 1
            return sse_frame({"type": kind, "sequence_number": sequence - 1, **data}, kind)

        def close_message() -> list[bytes]:
            assert message is not None
            index = output.index(message)
            whole = "".join(text)
            done = message_item(whole, message["id"])
            output[index] = done
            part = done["content"][0]
            head = {"item_id": message["id"], "output_index": index, "content_index": 0}
            return [event("response.output_text.done", **head, text=whole, logprobs=[]),
                    event("response.content_part.done", **head, part=part),
                    event("response.output_item.done", output_index=index, item=done)]

        start = self.response.body([], None, "in_progress")
        yield event("response.created", response=start)
        yield event("response.in_progress", response=start)
        usage: Usage | None = None
        try:
            async for item in events:
                if isinstance(item, str):
                    if message is None:
                        message = message_item("", _id("msg"), "in_progress")
                        output.append(message)
                        index = len(output) - 1
                        yield event("response.output_item.added", output_index=index,
                                    item=message)
                        yield event("response.content_part.added", item_id=message["id"],
                                    output_index=index, content_index=0,
                                    part={"type": "output_text", "text": "",
                                          "annotations": [], "logprobs": []})
                    text.append(item)
                    yield event("response.output_text.delta", item_id=message["id"],
                                output_index=output.index(message), content_index=0,
                                delta=item, logprobs=[])
                elif isinstance(item, ToolCall):
                    if message is not None and message["status"] != "completed":
                        for frame in close_message():
                            yield frame
                        message = output[-1]
                    done = call_item(item, _id("fc"))
                    index = len(output)
                    output.append(done)
                    yield event("response.output_item.added", output_index=index,
                                item={**done, "status": "in_progress", "arguments": ""})
                    yield event("response.function_call_arguments.delta", item_id=done["id"],
                                output_index=index, delta=done["arguments"])
                    yield event("response.function_call_arguments.done", item_id=done["id"],
                                output_index=index, name=done["name"],
                                arguments=done["arguments"])
                    yield event("response.output_item.done", output_index=index, item=done)
                elif isinstance(item, Usage):
                    usage = item
        except AiError as exc:
            yield event("error", code=str(exc.code), message=str(exc), param=None)
            return
        finally:
            await events.aclose()
        if message is not None and message["status"] != "completed":
            for frame in close_message():
                yield frame
        final = self.response.body(output, usage, "completed")
        kind = "response.completed" if final["status"] == "completed" else (
            "response.incomplete")
        yield event(kind, response=final)
