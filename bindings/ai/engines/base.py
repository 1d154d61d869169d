"""The engine contract: what the AI binding asks of anything that generates text.

Engines know nothing of Cloudflare (no schemas, no SSE, no error envelopes beyond raising
`AiError` with the right code); the AI binding knows nothing of HTTP backends. An engine:

- `prompt_format(model)` names the chat template of the weights it actually serves for a
  catalogue model when the engine knows it (the GGUF's own Jinja template for the
  stand-in model), or `None` when it cannot know (an HTTP backend): the binding then uses
  the route's override or the catalogue entry's serving block (Llama-2-chat).
- `applies_chat_template` (optional, default False): the backend applies the served
  weights' own template to messages itself (a chat endpoint). The binding then sends
  requests with `chat=True`: `messages` is what counts, `prompt` only a fallback
  rendering (empty when the catalogue has no format for the model).
- `generate(request)` is an async iterator of text chunks (`str`, each whole UTF-8
  characters) and `ToolCall`s (from backends that parse calls themselves) followed by
  exactly one `Usage`. Closing the iterator early (`aclose()`,
  which happens when the HTTP client goes away) must stop the generation upstream.
- `health()` reports whether it can serve; `close()` releases models and connections.
- `describe(model)` is an `EngineLabel`: what serves the model, as data (the banner, the
  pages and `edge ai status` render it; nobody parses it back).
- `capabilities` names the task capabilities it serves (`bindings.ai.tasks`): text
  generation is `generate()`; any other capability is `infer(TaskRequest)`, returning
  that task's engine-level result (its module documents the shape). An engine without
  the attribute serves text generation only; `EVERY_TASK` serves whatever is asked
  (the scripted test engines).

Engines that talk HTTP take an injected `httpx.AsyncClient`, so tests can use
`httpx.MockTransport` or a real loopback server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Usage:
    """Token counts, from the serving model's own tokenizer."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass
class GenerationRequest:
    """The normalized, engine-neutral request the AI binding hands an engine.

    `prompt` is always the final text to complete: already templated by the binding
    (or verbatim with `raw`). `messages` is kept for engines that want it (logging,
    chat-only backends); engines that complete text must use `prompt`. Sampling fields
    are `None` when the caller and the schema gave none: the engine then uses its
    backend's default. Each engine maps these onto its backend's own constraints and
    documents that mapping in one table.
    """

    model: str
    prompt: str
    messages: list[dict[str, Any]] | None = None
    raw: bool = False
    stream: bool = False
    max_tokens: int = 256
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    repetition_penalty: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop: list[str] = field(default_factory=list)
    lora: str | None = None
    #: send `messages` to the backend's chat endpoint (its template); see the module docstring.
    chat: bool = False
    #: OpenAI function tools offered (`bindings.ai.tools`); engines with a chat endpoint
    #: pass them on with `tool_choice` and yield the `ToolCall`s the backend parsed.
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    #: constrain the reply to JSON (`bindings.ai.structured`): `{"type": "json_object"}` or
    #: `{"type": "json_schema", "schema": {...}}`.
    response_format: dict[str, Any] | None = None
    #: reasoning models' effort ("low", "medium", "high"; the Responses API's
    #: `reasoning.effort`): chat endpoints get `reasoning_effort`, text prompts nothing.
    reasoning_effort: str | None = None
    #: a chat-completion model's stream ends with a usage-only chunk (`stream_options`).
    include_usage: bool = True


@dataclass(frozen=True)
class ToolCall:
    """A function call the model made: `generate()` may yield these (before its `Usage`)
    when the backend parses calls itself; `arguments` is an object (as Cloudflare returns)."""

    name: str
    arguments: dict[str, Any] | str
    id: str | None = None


@dataclass
class TaskRequest:
    """The request of a task other than text generation (`Engine.infer`).

    `capability` says which task it is (an engine may serve several); `inputs` are the
    schema-validated inputs as the task module prepared them (binary inputs as `bytes`,
    batched inputs as lists); task modules may subclass it to add typed fields.
    """

    model: str
    capability: str
    inputs: dict[str, Any] = field(default_factory=dict)


#: the capability of `generate()`; engines that declare no `capabilities` serve only it.
TEXT_GENERATION = "text-generation"
#: `capabilities` of an engine that answers any task (the scripted test engines).
EVERY_TASK = frozenset({"*"})


def serves(engine: Any, capability: str) -> bool:
    """Whether `engine` declares `capability` (or `EVERY_TASK`)."""
    declared = getattr(engine, "capabilities", None)
    if declared is None:
        declared = frozenset({TEXT_GENERATION})
    return capability in declared or "*" in declared


@dataclass(frozen=True)
class EngineLabel:
    """What an engine serves a model with: `str()` is the banner's wording, e.g.
    `llama.cpp: SmolLM2-135M-Instruct (stand-in)`, `vllm http://gpu1:8000 (TheBloke/...)`,
    `scripted: echo`."""

    engine: str  # "llama.cpp", "vllm", "tgi", "scripted"
    model: str | None = None  # the weights it serves, when known
    where: str | None = None  # its URLs or replicas
    detail: str | None = None  # said when the weights are not known (or there are none)
    stand_in: bool = False  # not the catalogue model's own weights
    settings: str | None = None  # how it runs, e.g. "parallel=4, n_ctx=4096"

    def __str__(self) -> str:
        body = self.model or self.detail
        if self.where:
            text = f"{self.engine} {self.where}" + (f" ({body})" if body else "")
        else:
            text = self.engine + (f": {body}" if body else "")
        text += " (stand-in)" if self.stand_in else ""
        return text + (f", {self.settings}" if self.settings else "")


@dataclass(frozen=True)
class Health:
    """An engine's answer to `health()`; `detail` is what the banner and `edge ai status` show."""

    ok: bool
    detail: str
    url: str | None = None


@runtime_checkable
class PromptFormat(Protocol):
    """A chat template: turns Cloudflare `messages` into the prompt text the weights expect."""

    name: str

    def render(self, messages: list[dict[str, Any]]) -> str: ...


class Engine(Protocol):
    """See the module docstring."""

    name: str
    capabilities: frozenset[str]

    def describe(self, model: str) -> EngineLabel: ...

    def prompt_format(self, model: str) -> PromptFormat | None: ...

    def generate(self, request: GenerationRequest) -> AsyncIterator[str | Usage]: ...

    async def infer(self, request: TaskRequest) -> Any: ...

    async def health(self) -> Health: ...

    async def close(self) -> None: ...
