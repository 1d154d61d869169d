"""Validated Workers AI inputs -> the engine-neutral `GenerationRequest`.

Which chat template turns `messages` into prompt text (the first that applies):

1. `raw: true` with a `prompt`: none, the prompt goes verbatim (Cloudflare: "a chat
   template is not applied and you must adhere to the specific model's expected
   formatting"). `raw` with `messages` joins the contents with the `none` format.
2. the route's `prompt_format` (`llama2`, `chatml`, `none`, or `gguf`: the engine's own);
3. the engine's `prompt_format(model)`: the template of the weights it actually serves
   (the stand-in GGUF's own Jinja template);
4. the catalogue entry's `serving.prompt_format` (Llama-2-chat for the Llama-2 family).

A bare `prompt` is one user turn. Sampling keys absent from the inputs stay `None`
(the engine's default applies); `max_tokens` is 256 unless given. `stop` gets the
template's own end-of-turn markers (`PromptFormat.stop`), if it declares any.
"""

from __future__ import annotations

from typing import Any

from bindings.ai.engines.base import Engine, GenerationRequest, PromptFormat
from bindings.ai.errors import AiError, bad_input, internal
from bindings.ai.routing import Route

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


def choose_prompt_format(route: Route, engine: Engine, entry: Any) -> PromptFormat:
    """The chat template for `entry` served by `engine` on `route` (steps 2-4 above)."""
    from bindings.ai.templates import get_format

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
    raw = bool(inputs.get("raw", False))
    messages: list[dict[str, Any]] | None
    if "messages" in inputs:
        messages = [dict(message) for message in inputs["messages"]]
        if raw:
            from bindings.ai.templates import get_format

            prompt_format = get_format("none")
    elif "prompt" in inputs:
        messages = None if raw else [{"role": "user", "content": inputs["prompt"]}]
    else:
        raise bad_input("Error: required properties at '/' are 'prompt' or 'messages'")
    if messages is None:
        prompt = inputs["prompt"]
    elif prompt_format is None:
        raise internal(f"no chat template to render the messages for {model}")
    else:
        try:
            prompt = prompt_format.render(messages)
        except AiError:
            raise
        except ValueError as exc:
            raise bad_input(f"Error: {exc}") from None
    sampling = {key: inputs[key] for key in SAMPLING_KEYS if inputs.get(key) is not None}
    max_tokens = inputs.get("max_tokens")
    return GenerationRequest(
        model=model,
        prompt=prompt,
        messages=messages,
        raw=raw,
        stream=bool(inputs.get("stream", False)),
        max_tokens=DEFAULT_MAX_TOKENS if max_tokens is None else int(max_tokens),
        # The template's end-of-turn markers stop text-completion backends at the turn's end.
        stop=_stop_list(inputs.get("stop")) + list(getattr(prompt_format, "stop", ()) or ()),
        **sampling,
    )


def _stop_list(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    return [item for item in stop if isinstance(item, str) and item]
