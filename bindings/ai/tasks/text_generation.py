"""Text Generation: `prompt` or `messages` in, `{"response", "usage"}` or an SSE stream out.

Which chat template turns `messages` into prompt text (the first that applies):

1. `raw: true` with a `prompt`: none, the prompt goes verbatim (Cloudflare: "a chat
   template is not applied and you must adhere to the specific model's expected
   formatting"). `raw` with `messages` joins the contents with the `none` format.
2. the route's `prompt_format` (`llama2`, `chatml`, `none`, or `gguf`: the engine's own);
3. the engine's `prompt_format(model)`: the template of the weights it actually serves
   (the GGUF's own Jinja template, the stand-in's included);
4. a format the catalogue pins: `serving.prompt_format` of an entry whose weights have
   no template of their own to prefer (`serving.chat_template` unset: Meta's exact
   Llama-2-chat format for the Llama-2 family and the seeds);
5. the served weights' own template, applied by the backend (`engine.applies_chat_template`:
   vLLM's and TGI's chat endpoints), with the catalogue's `serving.prompt_format` as
   the fallback rendering (`chat_templates.ServedTemplate`; the request has `chat=True`);
6. the catalogue's `serving.prompt_format`.

A bare `prompt` is one user turn. Sampling keys absent from the inputs stay `None`
(the engine's default applies); `max_tokens` is 256 unless given. `stop` gets the
template's own end-of-turn markers (`PromptFormat.stop`), if it declares any.

Responses-API models (gpt-oss: `input`, `instructions`) are built and shaped by
`bindings.ai.responses`: their input becomes messages, their answer a Response object.
Models whose published output is an OpenAI chat completion (Kimi, GLM, Qwen3...) answer
with one (`bindings.ai.chat_completion`), streamed as `chat.completion.chunk` frames.
`tools`/`functions` (and `tool_choice`, where a schema declares it or the OpenAI
endpoint passes it) are offered and read back by `bindings.ai.tools`; `response_format`
and `guided_json` constrain the reply to JSON (`bindings.ai.structured`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from bindings.ai import chat_completion, responses, structured, tools
from bindings.ai.chat_completion import new_head
from bindings.ai.engines.base import (
    TEXT_GENERATION,
    Engine,
    GenerationRequest,
    PromptFormat,
    ToolCall,
)
from bindings.ai.errors import AiError, bad_input, internal
from bindings.ai.routing import Route
from bindings.ai.streaming import AiStream, collect
from bindings.ai.tasks import snippets, text_generation_inputs
from bindings.ai.tasks.base import CliFlag, CliInputError, Playground, Snippet, Task
from emulator.sdk.attrdict import AttrDict, unwrap, wrap

log = logging.getLogger("edge.ai")

DEFAULT_MAX_TOKENS = 256

#: input keys copied onto `GenerationRequest` fields of the same name.
SAMPLING_KEYS = (
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "repetition_penalty",
    "frequency_penalty",
    "presence_penalty",
    "lora",
)

SYSTEM = "You are a friendly assistant"
QUESTION = "What is the origin of the phrase Hello, World"


def choose_prompt_format(route: Route, engine: Engine, entry: Any) -> PromptFormat:
    """The chat template for `entry` served by `engine` on `route` (steps 2-6 above)."""
    from bindings.ai.chat_templates import get_format

    model = entry.name
    if route.prompt_format == "gguf":
        own = engine.prompt_format(model)
        if own is None:
            raise internal(
                f"route {route.model}={route.engine} asks for prompt_format=gguf, but engine "
                f"{engine.name} has no template of its own for {model}"
            )
        return own
    if route.prompt_format:
        try:
            return get_format(route.prompt_format)
        except (KeyError, ValueError) as exc:
            raise internal(f"route {route.model}={route.engine}: {exc}") from None
    own = engine.prompt_format(model)
    if own is not None:
        return own
    serving = getattr(entry, "serving", None)
    name = getattr(serving, "prompt_format", None)
    pinned = name and getattr(serving, "chat_template", None) is None
    if not pinned and getattr(engine, "applies_chat_template", False):
        from bindings.ai.chat_templates import ServedTemplate

        return ServedTemplate(get_format(name) if name else None)
    if not name:
        raise internal(
            f"no chat template known for {model}: set serving.prompt_format in its catalogue "
            f"entry, or prompt_format= on its AI route"
        )
    return get_format(name)


def build_request(
    model: str, inputs: dict[str, Any], prompt_format: PromptFormat | None
) -> GenerationRequest:
    """A `GenerationRequest` from schema-validated inputs (defaults already applied).

    `prompt_format` may be None only when the inputs are `raw` with a `prompt`.
    """
    text_generation_inputs.check(inputs)  # what no local engine honours: 5006
    choice = inputs.get("tool_choice", _legacy_choice(inputs.get("function_call")))
    raw = bool(inputs.get("raw", False))
    messages: list[dict[str, Any]] | None
    if "messages" in inputs:
        messages = [dict(message) for message in inputs["messages"]]
        if raw:
            from bindings.ai.chat_templates import get_format

            prompt_format = get_format("none")
    elif "prompt" in inputs:
        messages = None if raw else [{"role": "user", "content": inputs["prompt"]}]
    else:
        raise bad_input("Error: required properties at '/' are 'prompt' or 'messages'")
    offered = tools.choose(
        tools.normalize(inputs.get("tools"), inputs.get("functions")), choice
    )
    shown = messages
    if messages is not None and not raw:
        if getattr(prompt_format, "supports_tools", False):
            if offered:
                prompt_format = prompt_format.with_tools(offered)  # type: ignore[union-attr]
        elif offered or any(m.get("tool_calls") for m in messages):
            shown = tools.prompt_messages(messages, offered, choice)
    if messages is None:
        prompt = inputs["prompt"]
    elif prompt_format is None:
        raise internal(f"no chat template to render the messages for {model}")
    else:
        try:
            prompt = prompt_format.render(shown)
        except AiError:
            raise
        except ValueError as exc:
            raise bad_input(f"Error: {exc}") from None
    sampling = {key: inputs[key] for key in SAMPLING_KEYS if inputs.get(key) is not None}
    max_tokens = inputs.get("max_tokens", inputs.get("max_completion_tokens"))
    return GenerationRequest(
        model=model,
        prompt=prompt,
        messages=messages,
        raw=raw,
        chat=messages is not None and getattr(prompt_format, "name", None) == "served",
        stream=bool(inputs.get("stream", False)),
        include_usage=bool((inputs.get("stream_options") or {}).get("include_usage", True)),
        max_tokens=DEFAULT_MAX_TOKENS if max_tokens is None else int(max_tokens),
        # The template's end-of-turn markers stop text-completion backends at the turn's end.
        stop=_stop_list(inputs.get("stop")) + list(getattr(prompt_format, "stop", ()) or ()),
        tools=offered or None,
        tool_choice=choice if offered else None,
        reasoning_effort=inputs.get("reasoning_effort"),
        response_format=structured.response_format(inputs),
        **sampling,
    )


def _legacy_choice(function_call: Any) -> Any:
    """OpenAI's legacy `function_call` ("none", "auto", `{"name"}`) as a `tool_choice`."""
    if isinstance(function_call, Mapping) and function_call.get("name"):
        return {"type": "function", "function": {"name": function_call["name"]}}
    return function_call


def _stop_list(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    return [item for item in stop if isinstance(item, str) and item]


class _MissingFormat:
    """Raises the template-choice error when (and only when) a template is needed."""

    name = "missing"
    stop = ()

    def __init__(self, error: AiError) -> None:
        self.error = error

    def render(self, messages: list[dict[str, Any]]) -> str:
        raise self.error


def _result(text: Any, usage: Any, calls: list[ToolCall] | None = None) -> AttrDict:
    # Built with dict.update: the values are known flat, so AttrDict's recursive wrapping
    # (a measurable share of the per-call overhead) has nothing to do.
    counts = AttrDict()
    dict.update(counts, usage.as_dict())
    result = AttrDict()
    if calls is None:
        dict.update(result, response=wrap(text), usage=counts)
    elif calls:  # Cloudflare: a reply that calls tools has a null response
        dict.update(result, response=None, tool_calls=wrap(tools.cloudflare_calls(calls)),
                    usage=counts)
    else:
        dict.update(result, response=text, tool_calls=[], usage=counts)
    return result


class TextGeneration(Task):
    name = "Text Generation"
    capability = TEXT_GENERATION
    cli_flags = (
        CliFlag("--prompt", "The prompt (one user turn, or verbatim with --raw)."),
        CliFlag("--system", "A system message to put before --prompt."),
        CliFlag("--messages-json", "Messages as a JSON array; '@FILE' reads a file, '-' stdin.",
                kind="json"),
        CliFlag("--stream", "Print the SSE stream as it arrives.", is_flag=True),
        CliFlag("--raw", "Send --prompt verbatim, without a chat template.", is_flag=True),
        CliFlag("--max-tokens", "Most tokens to generate (the schema's default: 256).", int),
        CliFlag("--temperature", "Sampling temperature (the schema says 0-5).", float),
        CliFlag("--top-p", "Nucleus sampling mass.", float),
        CliFlag("--top-k", "Sample from the k most likely tokens.", int),
        CliFlag("--seed", "Random seed, for reproducible sampling.", int),
    )

    def prepare(self, entry: Any, route: Route, engine: Engine) -> PromptFormat:
        try:
            return choose_prompt_format(route, engine, entry)
        except AiError as exc:
            # Only `raw` prompts can do without a template: fail the others when they come.
            return _MissingFormat(exc)

    def extra_inputs(self, entry: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
        if responses.takes_responses(entry):
            return responses.extra_inputs(inputs)
        return {}

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> Any:
        takes_in = text_generation_inputs.declared(entry.input_schema)
        if entry.has_schema and not takes_in & {"messages", "prompt", "input"}:
            takes = ", ".join(sorted(takes_in))
            raise AiError(5007, f"{entry.name} takes neither a prompt nor messages (its "
                          f"inputs: {takes}), and edge has no local engine for it")
        if responses.takes_responses(entry) and "input" in inputs:
            generation = build_request(entry.name, responses.chat_inputs(inputs), prepared)
            effort = (inputs.get("reasoning") or {}).get("effort")
            generation.reasoning_effort = effort
            return responses.ResponsesRequest(generation, responses.settings_of(inputs),
                                              dict(inputs.get("reasoning") or {}))
        return build_request(entry.name, inputs, None if inputs.get("raw") else prepared)

    async def run(self, entry: Any, engine: Engine, request: Any) -> Any:
        if isinstance(request, responses.ResponsesRequest):
            return await responses.run(engine, request)
        source = engine.generate(request)
        if request.tools:
            source = tools.split_calls(source, request.tools)
        completion = chat_completion.returns_chat_completion(entry)
        if request.stream:
            if completion:
                stream = chat_completion.ChatCompletionStream(source, model=request.model,
                                                              engine=engine.name)
                stream.head, stream.max_tokens = new_head(request.model), request.max_tokens
                stream.include_usage = request.include_usage
                return await stream.start()
            stream = AiStream(source, model=request.model, engine=engine.name)
            return await stream.start()
        started = time.perf_counter()
        calls: list[ToolCall] = []
        text, usage = await collect(source, model=request.model, calls=calls)
        log.info(
            "AI %s (%s): %d+%d tokens in %.2fs",
            request.model,
            engine.name,
            usage.prompt_tokens,
            usage.completion_tokens,
            time.perf_counter() - started,
        )
        if completion:  # the model's published output is OpenAI's chat completion
            result = _result(text, usage, calls or None)
            return wrap(chat_completion.completion_body(new_head(request.model), result,
                                                        request.max_tokens))
        reply: Any = structured.parsed(text) if request.response_format else text
        return _result(reply, usage, calls if request.tools else None)

    def sample(self, request: Any, text: str | None) -> str:
        return request.prompt if text is None else text

    # --- the model page ------------------------------------------------------------------

    def example_inputs(self, entry: Any) -> dict[str, Any]:
        if entry.accepts_messages():
            system = [{"role": "system", "content": SYSTEM}] if _takes_system(entry) else []
            return {"messages": [*system, {"role": "user", "content": "Why is pizza so good"}]}
        if _own_form(entry):
            return {"prompt": "Why is pizza so good"}
        return super().example_inputs(entry)  # neither (Clef's questions): from the schema

    def snippets(self, entry: Any, base_url: str) -> list[Snippet]:
        if not _own_form(entry):
            return super().snippets(entry, base_url)
        chat = entry.accepts_messages()
        base = base_url.rstrip("/")
        if chat:
            system = _takes_system(entry)
            setup = (
                "        messages = [\n"
                + (f'            {{"role": "system", "content": "{SYSTEM}"}},\n' if system else "")
                + f'            {{"role": "user", "content": "{QUESTION}"}},\n'
                "        ]\n"
            )
            inputs = '{"messages": messages%s}'
            body = (
                "{\n"
                '        "messages": [\n'
                + (f'            {{"role": "system", "content": "{SYSTEM}"}},\n' if system else "")
                + '            {"role": "user", "content": prompt}\n'
                "        ]\n"
                "    }"
            )
        else:
            setup = f'        prompt = "{QUESTION}"\n'
            inputs = '{"prompt": prompt%s}'
            body = '{"prompt": prompt}'
        items = []
        if entry.streams():
            code = snippets.worker(entry.name, setup, inputs % ', "stream": True', "sse")
            items.append(Snippet("worker-streaming", "Worker - Streaming", "python", code))
        items += [
            Snippet("worker", "Worker", "python", snippets.worker(entry.name, setup, inputs % "")),
            snippets.wrangler(),
            Snippet("sdk", "Python (cloudflare SDK)", "python",
                    snippets.cloudflare_sdk(entry.name, base, self.example_inputs(entry))),
            Snippet("python", "Python (requests)", "python", snippets.python_requests(
                entry.name, base, 'prompt = "Tell me all about PEP-8"\n', body)),
            Snippet("curl", "curl", "shell",
                    snippets.curl(entry.name, base, self.example_inputs(entry))),
        ]
        if chat:
            items.append(Snippet("openai", "OpenAI SDK", "python", _openai(entry.name, base)))
        return items

    def playground(self, entry: Any) -> Playground | None:
        if not _own_form(entry):
            return super().playground(entry)
        max_tokens = entry.input_default("max_tokens")
        temperature = entry.input_default("temperature")
        return Playground(
            "playground_text_generation.html",
            {
                "chat": entry.accepts_messages(),
                "system": _takes_system(entry),
                "defaults": {
                    "max_tokens": str(DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens),
                    "temperature": "" if temperature is None else str(temperature),
                },
            },
        )

    # --- edge ai run ---------------------------------------------------------------------

    def cli_inputs(self, values: Mapping[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        prompt, system = values.get("prompt"), values.get("system")
        messages = values.get("messages_json")
        if messages is not None:
            if prompt is not None:
                raise CliInputError("give --prompt or --messages-json, not both")
            inputs["messages"] = messages
            if system is not None:
                inputs["messages"] = [{"role": "system", "content": system}, *messages]
        elif prompt is not None:
            if system is not None:
                if values.get("raw"):
                    raise CliInputError("--system needs a chat template; it cannot go with --raw")
                inputs["messages"] = [
                    {"role": "system", "content": system},
                    {"role": "user", "content": prompt},
                ]
            else:
                inputs["prompt"] = prompt
        for flag in ("raw", "stream"):
            if values.get(flag):
                inputs[flag] = True
        for key in ("max_tokens", "temperature", "top_p", "top_k", "seed"):
            if values.get(key) is not None:
                inputs[key] = values[key]
        inputs.update(extra)
        if "prompt" not in inputs and "messages" not in inputs:
            raise CliInputError("give --prompt, --messages-json, or --input-json with either")
        return inputs

    def cli_output(self, result: Any) -> tuple[str, str | None]:
        usage = result.usage
        if result.get("object") == "response":  # a Responses model
            texts = [part.text for item in result.output if item.type == "message"
                     for part in item.content if part.type == "output_text"]
            calls = [f"{item.name}({item.arguments})" for item in result.output
                     if item.type == "function_call"]
            tokens = f"[{usage.input_tokens} input + {usage.output_tokens} output tokens]"
            return "\n".join(texts + calls), tokens
        tokens = f"[{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens]"
        if result.get("object") == "chat.completion":
            message = result.choices[0].message
            calls = [f"{c.function.name}({c.function.arguments})"
                     for c in message.get("tool_calls") or ()]
            return "\n".join([message.content or "", *calls]).strip(), tokens
        if result.get("tool_calls"):
            calls = [f"{c.name}({json.dumps(unwrap(c.arguments))})" for c in result.tool_calls]
            return "\n".join(calls), tokens
        text = result.response
        return (text if isinstance(text, str) else json.dumps(unwrap(text))), tokens


def _own_form(entry: Any) -> bool:
    """Whether the model takes a prompt or messages (a record published without an input
    schema takes anything, so a prompt too); others (Clef) get the generic page pieces."""
    return entry.accepts_messages() or entry.accepts_prompt() or not entry.input_schema


def _takes_system(entry: Any) -> bool:
    """Whether the model's messages may have a system turn (Llama Guard's may not)."""
    messages = entry.input_property("messages") or {}
    items = messages.get("items") if isinstance(messages.get("items"), dict) else {}
    roles = ((items.get("properties") or {}).get("role") or {}).get("enum")
    return not isinstance(roles, list) or "system" in roles


def _openai(model: str, base: str) -> str:
    account = "{os.environ.get('CLOUDFLARE_ACCOUNT_ID', 'local')}"
    return (
        "import os\n"
        "from openai import OpenAI\n\n"
        "client = OpenAI(\n"
        '    api_key=os.environ.get("CLOUDFLARE_AUTH_TOKEN", "none"),\n'
        f'    base_url=f"{base}/client/v4/accounts/{account}/ai/v1",\n'
        ")\n"
        "chat = client.chat.completions.create(\n"
        f'    model="{model}",\n'
        '    messages=[{"role": "user", "content": "Make some robot noises"}],\n'
        ")\n"
        "print(chat.choices[0].message.content)\n"
    )


TASK = TextGeneration()
