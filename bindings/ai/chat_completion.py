"""OpenAI chat-completion objects: the answer of the OpenAI-compatible endpoint, and of the
catalogue models whose published output is one (`@cf/moonshotai/kimi-k2.5`,
`@cf/zai-org/glm-4.7-flash`, `@cf/qwen/qwen3-30b-a3b-fp8`... : their output schemas are
`{id, object, created, model, choices, usage}`, so `env.AI.run` answers them so).

One builder for both: `completion_body()` turns a Workers AI result (`{"response",
"tool_calls", "usage"}`) into a `chat.completion` (`message.content`, `tool_calls` with
`id`, `type` and `function.arguments` as JSON text, `content: null` then, finish
`tool_calls`, `length` when `max_tokens` was reached, else `stop`); `chunk_frames()` turns
an engine stream into `chat.completion.chunk` SSE frames (the role first, one delta per
text chunk, one per tool call, the finish, a usage-only chunk when asked, `[DONE]`; an
engine failure after the start is an `{"error": {...}}` frame). `ChatCompletionStream`
is the `AiStream` of such models with `stream: true`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from bindings.ai.engines.base import ToolCall
from bindings.ai.errors import AiError
from bindings.ai.streaming import DONE, AiStream, sse_frame
from emulator.sdk.attrdict import unwrap

_EMPTY_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def returns_chat_completion(entry: Any) -> bool:
    """Whether the model's published JSON output is a chat-completion object."""
    schema = entry.output_schema or {}
    for branch in [schema, *(schema.get("oneOf") or schema.get("anyOf") or [])]:
        if isinstance(branch, Mapping) and "choices" in (branch.get("properties") or {}):
            return True
    return False


def new_head(model: str) -> dict[str, Any]:
    """`id`, `created` and `model` of one completion (shared by all its chunks)."""
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}


def finish_reason(usage: Mapping[str, Any] | None, max_tokens: int | None) -> str:
    if usage and max_tokens and usage.get("completion_tokens", 0) >= max_tokens:
        return "length"
    return "stop"


def content_text(response: Any) -> str:
    """`content` is text: a JSON-mode reply (parsed by the binding) is written back."""
    if response is None:
        return ""
    return response if isinstance(response, str) else json.dumps(unwrap(response))


def tool_call(call: Any, index: int | None = None) -> dict[str, Any]:
    """A call (`{"name", "arguments"}` or a `ToolCall`) in OpenAI's shape."""
    name = call.name if isinstance(call, ToolCall) else call.get("name", "")
    arguments = call.arguments if isinstance(call, ToolCall) else call.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(unwrap(arguments))
    ident = getattr(call, "id", None) or f"call_{uuid.uuid4().hex[:24]}"
    out: dict[str, Any] = {} if index is None else {"index": index}
    out.update(id=ident, type="function", function={"name": name, "arguments": arguments})
    return out


def completion_body(head: Mapping[str, Any], result: Mapping[str, Any],
                    max_tokens: int | None) -> dict[str, Any]:
    """A Workers AI text-generation result as a `chat.completion` object."""
    usage = dict(result.get("usage") or {}) or None
    message: dict[str, Any] = {"role": "assistant",
                               "content": content_text(result.get("response")),
                               "refusal": None, "annotations": []}
    finish = finish_reason(usage, max_tokens)
    if result.get("tool_calls"):
        message["content"] = None
        message["tool_calls"] = [tool_call(c) for c in result["tool_calls"]]
        finish = "tool_calls"
    return {
        **head,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage or dict(_EMPTY_USAGE),
    }


async def chunk_frames(items: AsyncIterator[Any], head: Mapping[str, Any], *,
                       include_usage: bool, max_tokens: int | None) -> AsyncIterator[bytes]:
    """`chat.completion.chunk` frames of an engine stream (`AiStream.chunks()` items)."""
    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        body: dict[str, Any] = {**head, "object": "chat.completion.chunk", "choices": [choice]}
        if include_usage:
            body["usage"] = None
        return sse_frame(body)

    yield chunk({"role": "assistant", "content": ""}, None)
    usage: dict[str, int] | None = None
    calls = 0
    try:
        async for item in items:
            if isinstance(item, str):
                yield chunk({"content": item}, None)
            elif isinstance(item, ToolCall):
                yield chunk({"tool_calls": [tool_call(item, calls)]}, None)
                calls += 1
            else:
                usage = item.as_dict()
        yield chunk({}, "tool_calls" if calls else finish_reason(usage, max_tokens))
    except AiError as err:
        error = {"message": str(err), "type": "server_error", "param": None, "code": err.code}
        yield sse_frame({"error": error})
        return
    if include_usage:
        yield sse_frame({**head, "object": "chat.completion.chunk", "choices": [],
                         "usage": usage or dict(_EMPTY_USAGE)})
    yield DONE


class ChatCompletionStream(AiStream):
    """The stream of a chat-completion model: `chat.completion.chunk` frames."""

    head: dict[str, Any]
    include_usage: bool = True
    max_tokens: int | None = None

    async def _frames(self) -> AsyncIterator[bytes]:
        events = self._events()
        try:
            async for frame in chunk_frames(events, self.head, include_usage=self.include_usage,
                                            max_tokens=self.max_tokens):
                yield frame
        finally:
            await events.aclose()
