"""The OpenAI chat-completions protocol, for backends that apply the served weights' own
chat template: vLLM's and TGI's `POST /v1/chat/completions`.

A request the binding marks `chat=True` (`bindings.ai.tasks.text_generation`: no route
format, no GGUF template, no format the catalogue pins) goes here with its `messages`,
so the prompt is built by the model's own template on the server, as its authors wrote
it. Written from vLLM's `ChatCompletionRequest` (`entrypoints/openai/protocol.py`: the
OpenAI fields plus `add_generation_prompt`, `continue_final_message`, `top_k`,
`repetition_penalty`...) and TGI's `ChatRequest` (`router/src/lib.rs`).

- A trailing assistant message is a prefix the model continues (as every edge prompt
  format treats it): `continue_final_message: true, add_generation_prompt: false`, which
  vLLM supports; an empty one is dropped (just the generation prompt).
- Streams with `stream_options.include_usage`; frames carry `choices[].delta.content`,
  then a frame with `usage`, then `data: [DONE]`. A server answering plain JSON
  (`choices[].message.content`) is read too.
- Tools, JSON mode and reasoning effort pass through (`chat_extras`); streamed
  `delta.tool_calls` pieces are joined per `index` and yielded as `ToolCall`s
  (arguments parsed from their JSON text) before the `Usage`.
- A server whose tokenizer has no chat template refuses the request (vLLM: HTTP 400 "As
  of transformers v4.44, default chat template is no longer allowed..."; TGI: 422
  `template_error` "Template error: template not found"): `lacks_template` recognises
  that, and the engines fall back to text completion with the catalogue's format.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any

import httpx

from bindings.ai.chat_templates import flatten_content
from bindings.ai.engines import http_errors
from bindings.ai.engines.base import ToolCall, Usage
from bindings.ai.engines.http_backend import DONE, sse_events
from bindings.ai.errors import AiError
from bindings.ai.tools import openai_messages

#: what servers say when the model has no chat template (lower case).
_NO_TEMPLATE = (
    "default chat template is no longer allowed",
    "must provide a chat template",
    "chattemplateresolutionerror",
    "template not found",
    "no chat template",
)


def chat_fields(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`messages` and the template flags for them (see the module docstring)."""
    out = openai_messages(messages)
    flags: dict[str, Any] = {}
    if out and out[-1].get("role") == "assistant":
        try:
            prefix = flatten_content(out[-1].get("content"))
        except ValueError:
            prefix = "x"  # let the server judge content it does not like
        if prefix.strip():
            flags = {"continue_final_message": True, "add_generation_prompt": False}
        else:
            out.pop()
    return {"messages": out, **flags}


def chat_extras(request: Any) -> dict[str, Any]:
    """The chat-endpoint fields of a request's tools, JSON mode and reasoning effort
    (OpenAI's names, as vLLM's `ChatCompletionRequest` takes them: `tools`, `tool_choice`,
    `response_format` with `json_schema: {name, schema}`, `reasoning_effort`)."""
    fields: dict[str, Any] = {}
    if request.tools:
        fields["tools"] = request.tools
        if request.tool_choice is not None:
            fields["tool_choice"] = request.tool_choice
    if request.response_format:
        fields["response_format"] = response_format(request.response_format)
    if request.reasoning_effort:
        fields["reasoning_effort"] = request.reasoning_effort
    return fields


def response_format(fmt: Mapping[str, Any]) -> dict[str, Any]:
    """A normalized JSON-mode constraint (`bindings.ai.structured`) in OpenAI's shape."""
    if fmt.get("type") == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": "response", "schema": fmt["schema"]}}
    return {"type": "json_object"}


def _gather(calls: dict[int, dict[str, Any]], deltas: list[Any]) -> None:
    """Fold streamed tool-call deltas (OpenAI's: the first of an `index` has `id` and
    `function.name`, later ones pieces of `function.arguments`) into `calls`."""
    for position, delta in enumerate(deltas):
        if not isinstance(delta, dict):
            continue
        index = delta.get("index", position)
        call = calls.setdefault(index, {"id": None, "name": "", "arguments": []})
        call["id"] = delta.get("id") or call["id"]
        function = delta.get("function") or {}
        if isinstance(function, dict):
            call["name"] += function.get("name") or ""
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                call["arguments"].append(arguments)
            elif isinstance(arguments, dict):  # a server writing the object itself
                call["arguments"].append(json.dumps(arguments))


def _tool_call(call: dict[str, Any]) -> ToolCall:
    text = "".join(call["arguments"])
    try:
        arguments = json.loads(text) if text.strip() else {}
    except ValueError:
        arguments = text  # not JSON: handed on as the model wrote it
    return ToolCall(call["name"], arguments, call["id"])


def lacks_template(error: AiError) -> bool:
    """Whether a backend's refusal means "this model has no chat template"."""
    text = error.description.lower()
    return error.code in (3010, 5006) and any(marker in text for marker in _NO_TEMPLATE)


async def stream_chat(
    client: httpx.AsyncClient, url: str, payload: dict[str, Any], *, backend: str, hint: str,
    count_prompt: Callable[[], Awaitable[int]] | None = None,
) -> AsyncIterator[str | Usage]:
    """POST a chat request to `url` (`.../v1/chat/completions`): yields the reply's text
    chunks, then its `Usage` (from the server's usage frame; without one, `count_prompt()`
    and one token per streamed chunk)."""
    usage: dict[str, Any] | None = None
    finished = False
    chunks = 0
    calls: dict[int, dict[str, Any]] = {}  # index -> id, name, argument pieces
    events = sse_events(client, url, payload, backend=backend, hint=hint)
    async with aclosing(events):
        async for event in events:
            if event is DONE:
                finished = True
                break
            assert isinstance(event, dict)
            if "error" in event or event.get("object") == "error":
                raise http_errors.from_stream_error(event, url=url)
            choices = event.get("choices")
            if not isinstance(choices, list):
                raise http_errors.malformed(url, f"frame without choices: {event!r}"[:300])
            for choice in choices:
                if not isinstance(choice, dict):
                    continue
                part = choice.get("delta") or choice.get("message") or {}
                text = part.get("content") if isinstance(part, dict) else None
                if isinstance(text, str) and text:
                    chunks += 1
                    yield text
                if isinstance(part, dict) and isinstance(part.get("tool_calls"), list):
                    chunks += 1
                    _gather(calls, part["tool_calls"])
                if choice.get("finish_reason"):
                    finished = True
            if isinstance(event.get("usage"), dict):
                usage = event["usage"]
    if not finished:
        raise http_errors.malformed(url, "the stream ended before a finish_reason or [DONE]")
    for index in sorted(calls):
        yield _tool_call(calls[index])
    if usage is None:
        prompt = await count_prompt() if count_prompt is not None else 0
        usage = {"prompt_tokens": prompt, "completion_tokens": chunks}
    try:
        yield Usage(int(usage.get("prompt_tokens") or 0),
                    int(usage.get("completion_tokens") or chunks))
    except (TypeError, ValueError):
        raise http_errors.malformed(url, f"usage is not token counts: {usage!r}") from None


async def served_or_fallback(
    url: str, request: Any, untemplated: set[str],
    chat: Callable[[], AsyncIterator[Any]] | None, completion: Callable[[], AsyncIterator[Any]],
) -> AsyncIterator[Any]:
    """A `chat=True` request over `chat()` (the server's template); if the server says the
    model has none, `url` joins `untemplated` and the request takes `completion()` with
    its fallback prompt from then on. `chat` None: this request cannot go to the chat
    endpoint (the engine says why); other requests take `completion()`."""
    if request.chat and chat is not None and url not in untemplated:
        sent = False
        try:
            replies = chat()
            async with aclosing(replies):
                async for item in replies:
                    sent = True
                    yield item
            return
        except AiError as exc:
            if sent or not lacks_template(exc):
                raise
            if not request.prompt:
                raise no_template_error(url, request.model) from exc
            untemplated.add(url)
    elif request.chat and not request.prompt:
        raise no_template_error(url, request.model)
    replies = completion()
    async with aclosing(replies):
        async for item in replies:
            yield item


def no_template_error(url: str, model: str) -> AiError:
    """The error for a chat request nothing can template (no server template, no format)."""
    return AiError(
        3043,
        f"backend {url} has no chat template for {model}, and its catalogue entry names no "
        "prompt_format to fall back on: start the server with a chat template (vLLM "
        "--chat-template FILE) or set prompt_format= on the AI route",
    )
