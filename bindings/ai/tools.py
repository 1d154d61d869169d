"""Function calling: the `tools` (and legacy `functions`) of text-generation inputs, offered
to the model and read back from its reply as Cloudflare returns them.

What Cloudflare documents and returns (developers.cloudflare.com/workers-ai/features/
function-calling/traditional/; replies quoted verbatim in public worker logs):

- `tools` come in two shapes, both in the catalogue schemas: Cloudflare's flat
  `{name, description, parameters}` and OpenAI's `{type: "function", function: {...}}`.
  `normalize()` turns both into the OpenAI shape (what chat templates and vLLM take).
  The legacy `functions` (`{name, code}`) are offered as tools of that name without
  declared parameters; their `code` is not run (Cloudflare does not document what it does).
- A reply that calls tools is `{"response": null, "tool_calls": [{"name", "arguments"}],
  "usage"}`: `arguments` an object, `response` null (the published output schemas say
  `string`; the live service writes null). A reply that calls none keeps its text and
  carries `"tool_calls": []`. Streamed, the calls come in one frame
  `data: {"response":"","tool_calls":[...]}` before the usage frame.

How the tools reach the model (`GenerationRequest.tools`):

1. an engine whose backend applies the served model's template (vLLM's chat endpoint)
   gets them as they are, with `tool_choice`, and answers with `ToolCall`s it parsed;
2. a template that renders tools itself (a GGUF's Jinja template using `tools`) gets
   them as its `tools` variable;
3. any other template gets `instruction()` as (the start of) the system message: the
   tools' JSON and "answer with only a JSON object {"name", "arguments"}". Earlier
   assistant tool calls in the history become that JSON text, tool results stay `tool`
   turns, so a round trip renders in every template.

The reply of 2 and 3 is read by `parse()`: a JSON object or array of calls, bare or in
the wrappers the common tool templates use (```json fences, `<tool_call>` (Hermes, Qwen),
`[TOOL_CALLS]` (Mistral), `<|python_tag|>` (Llama 3.1), `<functioncall>`). A call must
name an offered tool and carry an object of arguments (or none); anything else stays
text, never an error.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from bindings.ai.engines.base import ToolCall
from bindings.ai.errors import bad_input

_WRAPPERS = re.compile(
    r"^\s*(?:```(?:json)?\s*(?P<fence>.*?)\s*```"
    r"|(?:<tool_call>\s*(?P<tag>.*?)\s*</tool_call>\s*)+"
    r"|\[TOOL_CALLS\]\s*(?P<mistral>.*)"
    r"|<\|python_tag\|>\s*(?P<python>.*?)(?:<\|eom_id\|>|<\|eot_id\|>)?"
    r"|<functioncall>\s*(?P<functioncall>.*))\s*$",
    re.DOTALL,
)
_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
#: how a reply that may still turn out to be a call begins (see `split_calls`).
_CALL_STARTS = ("{", "[", "<", "`")


def normalize(tools: Any, functions: Any = None) -> list[dict[str, Any]]:
    """Schema-validated `tools` and `functions` as OpenAI function tools."""
    out: list[dict[str, Any]] = []
    for tool in tools or ():
        spec = tool.get("function") if isinstance(tool.get("function"), Mapping) else tool
        function = {"name": spec.get("name", "")}
        if spec.get("description") is not None:
            function["description"] = spec["description"]
        function["parameters"] = spec.get("parameters") or {"type": "object", "properties": {}}
        out.append({"type": "function", "function": function})
    for legacy in functions or ():
        out.append({"type": "function", "function": {
            "name": legacy.get("name", ""),
            "parameters": {"type": "object", "properties": {}},
        }})
    names = [tool["function"]["name"] for tool in out]
    if any(not name for name in names):
        raise bad_input("Error: every tool needs a non-empty name")
    return out


def choose(tools: list[dict[str, Any]], tool_choice: Any) -> list[dict[str, Any]]:
    """The tools offered under OpenAI's `tool_choice`: "none" offers none; a named
    function (`{"type": "function", "function": {"name"}}`) only that one."""
    if tool_choice in (None, "auto", "required"):
        return tools
    if tool_choice == "none":
        return []
    name = None
    if isinstance(tool_choice, Mapping):
        name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
    chosen = [tool for tool in tools if tool["function"]["name"] == name]
    if not chosen:
        raise bad_input(f"Error: tool_choice names no offered tool: {tool_choice!r}"[:300])
    return chosen


def instruction(tools: Sequence[Mapping[str, Any]], tool_choice: Any = None) -> str:
    """The generic system instruction offering `tools` (step 3 of the module docstring)."""
    listed = json.dumps([tool["function"] for tool in tools], ensure_ascii=False)
    must = tool_choice == "required" or isinstance(tool_choice, Mapping)
    return (
        "You can call these functions (each given as its name, description and the JSON "
        f"Schema of its arguments):\n{listed}\n"
        + ("You must call one of them. " if must else "")
        + "To call a function, answer with only a JSON object and no other text: "
        '{"name": "<function name>", "arguments": {<argument>: <value>, ...}}. '
        "To call several, answer with a JSON array of such objects."
        + ("" if must else " If no function is needed, answer normally.")
    )


def prompt_messages(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]], tool_choice: Any
) -> list[dict[str, Any]]:
    """`messages` for a template that knows no tools: `instruction()` opening the system
    message, earlier assistant calls written as the JSON the instruction asks for."""
    out = [_as_text(message) for message in messages]
    if tools:
        text = instruction(tools, tool_choice)
        if out and out[0].get("role") == "system":
            out[0] = {**out[0], "content": f"{text}\n\n{out[0].get('content') or ''}".rstrip()}
        else:
            out.insert(0, {"role": "system", "content": text})
    return out


def _as_text(message: Mapping[str, Any]) -> dict[str, Any]:
    calls = message.get("tool_calls")
    if message.get("role") != "assistant" or not calls:
        return dict(message)
    written = [_cloudflare(call) for call in calls if isinstance(call, Mapping)]
    text = json.dumps(written[0] if len(written) == 1 else written, ensure_ascii=False)
    content = message.get("content")
    content = f"{content}\n{text}" if isinstance(content, str) and content.strip() else text
    rest = {k: v for k, v in message.items() if k != "tool_calls"}
    return {**rest, "content": content}


def openai_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`messages` for an OpenAI chat endpoint: assistant `tool_calls` in any shape become
    OpenAI's (`id`, `type`, `function.arguments` as JSON text), and a `tool` message
    without `tool_call_id` answers the call before it (vLLM's templates need the ids)."""
    out: list[dict[str, Any]] = []
    last_ids: list[str] = []
    for index, message in enumerate(messages):
        message = dict(message)
        calls = message.get("tool_calls")
        if message.get("role") == "assistant" and calls:
            converted = []
            for number, call in enumerate(c for c in calls if isinstance(c, Mapping)):
                plain = _cloudflare(call)
                arguments = plain["arguments"]
                ident = call.get("id") or f"call{index:05d}{number:04d}"
                converted.append({"id": ident, "type": "function", "function": {
                    "name": plain["name"],
                    "arguments": arguments if isinstance(arguments, str)
                    else json.dumps(arguments, ensure_ascii=False),
                }})
            message["tool_calls"] = converted
            last_ids = [call["id"] for call in converted]
        elif message.get("role") == "tool" and not message.get("tool_call_id") and last_ids:
            message["tool_call_id"] = last_ids.pop(0)
        out.append(message)
    return out


def _cloudflare(call: Mapping[str, Any]) -> dict[str, Any]:
    """A call in any shape (Cloudflare's, OpenAI's) as `{"name", "arguments": object}`."""
    spec = call.get("function") if isinstance(call.get("function"), Mapping) else call
    arguments = spec.get("arguments", spec.get("parameters", {}))
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):  # not JSON: kept as the model wrote it
            arguments = json.loads(arguments) if arguments.strip() else {}
    return {"name": spec.get("name", ""), "arguments": arguments}


def parse(text: str, tools: Sequence[Mapping[str, Any]]) -> list[ToolCall] | None:
    """The calls a reply makes, or None when it is text (see the module docstring)."""
    names = {tool["function"]["name"] for tool in tools}
    if not names or not text.strip():
        return None
    body = text.strip()
    match = _WRAPPERS.match(body)
    if match:
        groups = {k: v for k, v in match.groupdict().items() if v is not None}
        if "tag" in groups:
            items = []
            for inner in _TAGGED.findall(body):
                value = _load(inner)
                if value is None:
                    return None
                items += value if isinstance(value, list) else [value]
            return _calls(items, names)
        body = next(iter(groups.values()), body)
    value = _load(body)
    if value is None:
        return None
    return _calls(value if isinstance(value, list) else [value], names)


def _load(text: str) -> Any:
    try:
        value, end = json.JSONDecoder().raw_decode(text.strip())
    except ValueError:
        return None
    if text.strip()[end:].strip():
        return None  # text after the JSON: a reply that mentions JSON, not a call
    return value if isinstance(value, dict | list) else None


def _calls(items: list[Any], names: set[str]) -> list[ToolCall] | None:
    calls = []
    for item in items:
        if not isinstance(item, Mapping):
            return None
        call = _cloudflare(item)
        arguments = call["arguments"]
        if call["name"] not in names or not isinstance(arguments, dict):
            return None
        calls.append(ToolCall(call["name"], arguments))
    return calls or None


async def split_calls(
    source: AsyncIterator[Any], tools: Sequence[Mapping[str, Any]]
) -> AsyncIterator[Any]:
    """An engine stream with tool calls read out of its text: text streams on as soon as
    it cannot be a call (its first visible character is not one of `{ [ < \\``); a reply
    that may be one is held back to its end, then yielded as `ToolCall`s or, when it is
    not a call after all, as text. `ToolCall`s the engine made pass through."""
    held: list[str] = []
    deciding = True
    native = False
    async for item in source:
        if isinstance(item, ToolCall):
            native = True
            yield item
        elif not isinstance(item, str):
            if held:
                text = "".join(held)
                calls = None if native else parse(text, tools)
                for piece in calls or [text]:
                    yield piece
                held = []
            yield item
        elif deciding:
            held.append(item)
            start = "".join(held).lstrip()
            if start and not start.startswith(_CALL_STARTS):
                deciding = False
                yield "".join(held)
                held = []
        else:
            yield item
    if held:  # an engine that ended without usage
        text = "".join(held)
        for piece in (None if native else parse(text, tools)) or [text]:
            yield piece


def cloudflare_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """`tool_calls` as Cloudflare returns them."""
    return [{"name": call.name, "arguments": call.arguments} for call in calls]
