"""Every input the 72 Text Generation records declare, and what each does locally.

`INPUTS` is the table (`python -m bindings.ai.tasks.text_generation_inputs` prints it with
how many records declare each input, from the shipped catalogue); a test fails when a
record declares an input this table does not account for. `NO_EFFECT` inputs are
accepted, noted once in the dev log, and change nothing; `REFUSED` ones are a 5006
naming why (`check()`), before any engine is called.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

from bindings.ai.errors import bad_input

INPUTS: dict[str, str] = {
    "prompt": "one user turn (verbatim with raw)",
    "messages": "the conversation, rendered by the served model's template",
    "raw": "prompt sent without a chat template",
    "stream": "SSE frames (Workers AI's, or chat.completion.chunk for chat-completion models)",
    "stream_options": "include_usage: the usage-only last chunk",
    "max_tokens": "tokens generated at most (cut: finish 'length')",
    "max_completion_tokens": "as max_tokens (when max_tokens is not given)",
    "temperature": "sampling temperature (llama.cpp temp, vLLM temperature clamped to 2)",
    "top_p": "nucleus sampling",
    "top_k": "top-k sampling",
    "seed": "sampler seed (reproducible on llama.cpp)",
    "repetition_penalty": "llama.cpp repeat_penalty, vLLM repetition_penalty",
    "frequency_penalty": "llama.cpp and vLLM frequency_penalty",
    "presence_penalty": "llama.cpp and vLLM presence_penalty",
    "stop": "stop strings, down to the engine",
    "lora": "vLLM: the adapter's served name; llama.cpp: 5005 (no adapters)",
    "tools": "function calling (bindings.ai.tools)",
    "functions": "legacy functions, offered as tools without parameters",
    "tool_choice": "none / auto / required / a named function",
    "function_call": "OpenAI's legacy tool_choice (none, auto, {name})",
    "parallel_tool_calls": "no effect locally (every call the model makes is returned)",
    "response_format": "JSON mode: llama.cpp grammar, vLLM response_format",
    "guided_json": "JSON mode with this schema",
    "reasoning_effort": "vLLM chat endpoint reasoning_effort; the stand-in does not reason",
    "chat_template_kwargs": "no effect locally (the served template's own defaults apply)",
    "skip_special_tokens": "no effect locally (special tokens are never streamed)",
    "input": "Responses API input (bindings.ai.responses)",
    "reasoning": "Responses API reasoning effort and summary",
    "n": "only 1 (one choice per request); other values are a 5006",
    "logprobs": "refused when true: edge's engines do not report log probabilities",
    "top_logprobs": "refused when above 0, as logprobs",
    "logit_bias": "refused when not empty: no local engine applies it",
    "modalities": "text only; 'audio' is a 5006",
    "audio": "refused: no local engine speaks",
    "image": "refused: the local engines read text (route to a vision model server)",
    "images": "refused, as image",
    "videos": "refused, as image",
    "web_search_options": "refused: web search is hosted by the provider",
    "prediction": "no effect locally (predicted outputs only speed up hosted models)",
    "metadata": "no effect locally",
    "store": "no effect locally (nothing is stored)",
    "user": "no effect locally",
    "service_tier": "no effect locally",
    "model": "no effect locally (the route decides what serves the model)",
    "requests": "refused: async batches (queueRequest) are not emulated",
    "state": "Clef decision models: no local engine (5007)",
    "questions": "Clef decision models: no local engine (5007)",
}

NO_EFFECT = frozenset({
    "parallel_tool_calls", "chat_template_kwargs", "skip_special_tokens", "prediction",
    "metadata", "store", "user", "service_tier", "model",
})


def check(inputs: Mapping[str, Any]) -> None:
    """5006 for the inputs no local engine can honour (the `INPUTS` table says which)."""
    def refuse(key: str, why: str) -> None:
        raise bad_input(f"Error: '{key}' is not supported locally: {why}")

    if inputs.get("n") not in (None, 1):
        refuse("n", "one choice per request (n=1)")
    if inputs.get("logprobs") or inputs.get("top_logprobs"):
        refuse("logprobs", "edge's engines do not report log probabilities")
    if inputs.get("logit_bias"):
        refuse("logit_bias", "no local engine applies a logit bias")
    if "audio" in (inputs.get("modalities") or ()) or inputs.get("audio"):
        refuse("audio", "the local engines answer in text only")
    for key in ("image", "images", "videos"):
        if inputs.get(key):
            refuse(key, "the local engines read text only; route the model to a server "
                        "that serves its vision weights")
    if inputs.get("web_search_options") is not None:
        refuse("web_search_options", "web search is hosted by the provider")
    if "requests" in inputs:
        refuse("requests", "async batches (the queueRequest option) are not emulated; "
                           "send each request on its own")


def survey(catalogue: Any) -> collections.Counter[str]:
    """How many Text Generation records declare each input property."""
    counts: collections.Counter[str] = collections.Counter()
    for entry in catalogue.entries():
        if entry.task_name == "Text Generation":
            counts.update(declared(entry.input_schema))
    return counts


def declared(schema: Any) -> set[str]:
    """The top-level input properties of a schema, across its oneOf/anyOf branches."""
    found: set[str] = set()
    if isinstance(schema, Mapping):
        found.update(schema.get("properties") or {})
        for key in ("oneOf", "anyOf", "allOf"):
            for branch in schema.get(key) or ():
                found |= declared(branch)
    return found


if __name__ == "__main__":
    from bindings.ai.catalogue import load_catalogue

    for name, count in survey(load_catalogue()).most_common():
        print(f"{count:3d}  {name:22s} {INPUTS.get(name, '(not in the table)')}")
