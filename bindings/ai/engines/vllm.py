"""The `vllm` engine: a vLLM server (or any OpenAI-compatible one) over its OpenAI API.

Which endpoint a request takes depends on who templates it (`GenerationRequest.chat`):

- the served weights' own template (no route format, no format the catalogue pins):
  `/v1/chat/completions` with the messages (`engines.openai_chat`), so vLLM applies
  the model's template from its tokenizer config. A server with no template for the
  model (HTTP 400 "...default chat template is no longer allowed...") is remembered per
  replica, and the request goes to `/v1/completions` with the catalogue's format instead;
- a format edge renders (Llama-2-chat for the seed models, a route's `prompt_format`) or
  a `raw` prompt: `/v1/completions` with that text, so what reaches the weights is
  exactly what Cloudflare's model would see.

Both stream (`stream: true` with `stream_options: {"include_usage": true}`) and read SSE
`data:` frames up to `data: [DONE]`; token counts come from the final usage frame. The
same protocol is spoken by SGLang, llama.cpp's server and routers in front of a fleet.

Text embeddings (a pooling model, e.g. `vllm serve BAAI/bge-base-en-v1.5`) go over
`/v1/embeddings` (`engines.openai_embeddings`); llama.cpp's servers started with
`--embedding` answer it too.

Start the seed model with: `vllm serve TheBloke/Llama-2-13B-chat-AWQ --quantization awq`.

Parameter mapping (Cloudflare's schema ranges -> vLLM's `SamplingParams._verify_args`
in `vllm/sampling_params.py` and `CompletionRequest` in `vllm/entrypoints/openai/`):

| GenerationRequest  | sent as              | rule                                               |
|--------------------|----------------------|----------------------------------------------------|
| prompt             | prompt               | verbatim (already templated); chat: `messages`,    |
|                    |                      | a trailing assistant turn `continue_final_message` |
| max_tokens         | max_tokens           | must be >= 1 (else 5006)                           |
| temperature        | temperature          | clamped to [0, 2] (Cloudflare allows 5); 0 = greedy|
| top_p              | top_p                | clamped to (0, 1] (Cloudflare allows 0..2); 0 ->   |
|                    |                      | omitted and temperature 0 (greedy, its limit)      |
| top_k              | top_k                | >= 1 sent; <= 0 omitted (no top-k)                 |
| seed               | seed                 | as is                                              |
| repetition_penalty | repetition_penalty   | > 0 sent; <= 0 omitted (vLLM requires > 0; 1 = off)|
| frequency_penalty  | frequency_penalty    | clamped to [-2, 2]                                 |
| presence_penalty   | presence_penalty     | clamped to [-2, 2]                                 |
| stop               | stop                 | empty strings dropped (vLLM rejects them)          |
| lora               | model                | the adapter's served name (`--lora-modules NAME=`):|
|                    |                      | route option `loras` maps names, else as given     |
| (none)             | model                | route `served_model`, else `GET /v1/models` first id|

Unset fields are not sent, so the server's own defaults (its generation config) apply.
The chat endpoint takes the same sampling fields (vLLM's `ChatCompletionRequest`), plus
`tools`/`tool_choice` (the server's tool parser answers with `tool_calls`: start it with
`--enable-auto-tool-choice --tool-call-parser <parser>`) and `response_format` (JSON
mode, on both endpoints).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from bindings.ai.engines import http_errors, openai_chat, openai_embeddings
from bindings.ai.engines.base import (
    TEXT_GENERATION,
    EngineLabel,
    GenerationRequest,
    TaskRequest,
    Usage,
)
from bindings.ai.engines.http_backend import (
    DONE,
    HTTP_OPTIONS,
    HttpEngine,
    failing,
    get_json,
    sse_events,
)
from bindings.ai.engines.replicas import Replica
from bindings.ai.errors import AiError, bad_input
from bindings.ai.routing import Route
from bindings.ai.tasks.text_embeddings import TEXT_EMBEDDINGS, EmbeddingRequest, Embeddings

CAPABILITIES = frozenset({TEXT_GENERATION, TEXT_EMBEDDINGS})
OPTIONS = HTTP_OPTIONS
DEFAULT_URL = "http://127.0.0.1:8000"


def create(route: Route, *, client: httpx.AsyncClient | None = None) -> VllmEngine:
    return VllmEngine(route, client=client)


def sampling_params(request: GenerationRequest) -> dict[str, Any]:
    """The request's sampling fields mapped onto vLLM's constraints (the table above)."""
    if request.max_tokens < 1:
        raise bad_input(f"max_tokens must be at least 1, got {request.max_tokens}")
    params: dict[str, Any] = {"max_tokens": request.max_tokens}
    if request.temperature is not None:
        params["temperature"] = _clamp(request.temperature, 0.0, 2.0)
    if request.top_p is not None:
        if request.top_p <= 0:
            params["temperature"] = 0.0
        else:
            params["top_p"] = min(request.top_p, 1.0)
    if request.top_k is not None and request.top_k > 0:
        params["top_k"] = request.top_k
    if request.seed is not None:
        params["seed"] = request.seed
    if request.repetition_penalty is not None and request.repetition_penalty > 0:
        params["repetition_penalty"] = request.repetition_penalty
    if request.frequency_penalty is not None:
        params["frequency_penalty"] = _clamp(request.frequency_penalty, -2.0, 2.0)
    if request.presence_penalty is not None:
        params["presence_penalty"] = _clamp(request.presence_penalty, -2.0, 2.0)
    stop = [s for s in request.stop if s]
    if stop:
        params["stop"] = stop
    return params


def _clamp(value: float, low: float, high: float) -> float:
    if math.isnan(value):
        raise bad_input("sampling parameters must be numbers, got NaN")
    return max(low, min(high, value))


def base_url(url: str) -> str:
    """`http://host:8000/v1` and `http://host:8000/` both mean the server at `http://host:8000`."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class VllmEngine(HttpEngine):
    """See the module docstring. `client` is injectable (tests, a shared pool)."""

    name = "vllm"
    capabilities = CAPABILITIES
    #: its chat endpoint applies the served model's own template (see the docstring).
    applies_chat_template = True

    def __init__(self, route: Route, *, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(route, [base_url(u) for u in route.urls] or [DEFAULT_URL], client)
        self._models: dict[str, str] = {}  # replica URL -> model id it serves (discovered)
        self._tokenizers: dict[str, str | None] = {}  # replica URL -> working tokenize kind

    def describe(self, model: str) -> EngineLabel:
        discovered = next(iter(self._models.values()), None)
        return EngineLabel("vllm", model=self.route.served_model or discovered,
                           where=self.replicas.label(),
                           detail="served model discovered via /v1/models")

    def generate(self, request: GenerationRequest) -> AsyncIterator[str | Usage]:
        try:
            params = sampling_params(request)
        except AiError as exc:
            return failing(exc)
        return self.replicas.stream(lambda replica: self._generate_on(replica, request, params))

    async def infer(self, request: TaskRequest) -> Embeddings:
        """Text embeddings over `/v1/embeddings` (`engines.openai_embeddings`)."""
        if not isinstance(request, EmbeddingRequest):
            raise AiError(5007, f"vllm engine: it serves text generation and embeddings, "
                                f"not {request.capability}")
        answers = self.replicas.stream(lambda replica: self._embed_on(replica, request))
        async with aclosing(answers):
            async for answer in answers:
                return answer
        raise AiError(3043, "vllm engine: no replica answered")  # pragma: no cover

    async def _embed_on(self, replica: Replica, request: EmbeddingRequest
                        ) -> AsyncIterator[Embeddings]:
        model = await self.served_model(replica.url)
        yield await openai_embeddings.embed(self._client, replica.url, model, request.texts,
                                            backend="vllm", hint=self.hint(replica.url))

    async def _generate_on(
        self, replica: Replica, request: GenerationRequest, params: dict[str, Any]
    ) -> AsyncIterator[str | Usage]:
        url = replica.url
        if request.lora:
            model = self.loras.get(request.lora, request.lora)
        else:
            model = await self.served_model(url)
        replies = openai_chat.served_or_fallback(
            url, request, self._untemplated,
            lambda: self._chat_on(url, model, request, params),
            lambda: self._complete_on(url, model, request, params),
        )
        async with aclosing(replies):
            async for item in replies:
                yield item

    async def _complete_on(
        self, url: str, model: str, request: GenerationRequest, params: dict[str, Any]
    ) -> AsyncIterator[str | Usage]:
        """One request over `/v1/completions`: the prompt as edge rendered it."""
        payload = {
            "model": model,
            "prompt": request.prompt,
            **params,
            # vLLM's CompletionRequest takes response_format too (structured outputs).
            **({"response_format": openai_chat.response_format(request.response_format)}
               if request.response_format else {}),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        endpoint = f"{url}/v1/completions"
        usage: dict[str, Any] | None = None
        chunks = 0
        events = sse_events(self._client, endpoint, payload, backend="vllm", hint=self.hint(url))
        async with aclosing(events):
            async for event in events:
                if event is DONE:
                    break
                assert isinstance(event, dict)
                if "error" in event or event.get("object") == "error":
                    raise http_errors.from_stream_error(event, url=endpoint)
                choices = event.get("choices")
                if not isinstance(choices, list):
                    raise http_errors.malformed(endpoint, f"frame without choices: {event!r}"[:300])
                for choice in choices:
                    text = choice.get("text") if isinstance(choice, dict) else None
                    if text:
                        chunks += 1
                        yield text
                if event.get("usage"):
                    usage = event["usage"]
            else:
                raise http_errors.malformed(endpoint, "the stream ended before `data: [DONE]`")
        if usage is None:  # a server that ignores include_usage: count the prompt ourselves
            usage = {
                "prompt_tokens": await self.count_tokens(url, model, request.prompt),
                "completion_tokens": chunks,
            }
        yield _usage(usage, chunks, endpoint)

    async def _chat_on(
        self, url: str, model: str, request: GenerationRequest, params: dict[str, Any]
    ) -> AsyncIterator[str | Usage]:
        """One request over `/v1/chat/completions`: the server applies its template."""
        endpoint = f"{url}/v1/chat/completions"
        payload = {
            "model": model,
            **openai_chat.chat_fields(request.messages or []),
            **openai_chat.chat_extras(request),
            **params,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        async def count_prompt() -> int:  # no usage frame: the fallback rendering counts
            return await self.count_tokens(url, model, request.prompt) if request.prompt else 0

        replies = openai_chat.stream_chat(self._client, endpoint, payload, backend="vllm",
                                          hint=self.hint(url), count_prompt=count_prompt)
        async with aclosing(replies):
            async for item in replies:
                yield item

    async def count_tokens(self, url: str, model: str, prompt: str) -> int:
        """The prompt's token count from the server's tokenizer endpoint; 0 if it has none.

        Tried in order, and the one that answers remembered per replica: vLLM's
        `POST /tokenize {model, prompt}` -> `count`, llama.cpp's `POST /tokenize {content}`
        -> `tokens`, llama-cpp-python's `POST /extras/tokenize/count {input}` -> `count`.
        """
        known = self._tokenizers.get(url, "")
        if known is None:
            return 0
        timeout = float(self.route.options.get("health_timeout", 3.0))
        for kind in [known] if known else list(_TOKENIZERS):
            path, body = _TOKENIZERS[kind](model, prompt)
            try:
                answer = await self._client.post(f"{url}{path}", json=body, timeout=timeout)
                data = answer.json() if answer.status_code == 200 else None
                count = data.get("count") if isinstance(data, dict) else None
                if (
                    count is None
                    and isinstance(data, dict)
                    and isinstance(data.get("tokens"), list)
                ):
                    count = len(data["tokens"])
            except (httpx.HTTPError, ValueError):
                continue
            if isinstance(count, int):
                self._tokenizers[url] = kind
                return count
        self._tokenizers[url] = None
        return 0

    async def served_model(self, url: str) -> str:
        """The model name to send: the route's `served_model`, else what `/v1/models` lists."""
        if self.route.served_model:
            return self.route.served_model
        if url not in self._models:
            data, _ = await get_json(
                self._client, f"{url}/v1/models", backend="vllm", hint=self.hint(url)
            )
            models = data.get("data") if isinstance(data, dict) else None
            if not models or not isinstance(models[0], dict) or "id" not in models[0]:
                raise AiError(3043, f"backend {url}/v1/models lists no model to serve")
            self._models[url] = str(models[0]["id"])
        return self._models[url]

    async def _probe(self, replica: Replica) -> str:
        """One replica for `health_all`: the model it serves; raises when it is down."""
        url, hint = replica.url, self.hint(replica.url)
        timeout = float(self.route.options.get("health_timeout", 3.0))
        try:
            answer = await self._client.get(f"{url}/health", timeout=timeout)
        except httpx.HTTPError as exc:
            raise http_errors.from_transport(exc, url=url, backend="vllm", hint=hint) from exc
        # vLLM answers 200 when its engine is alive, 500 when it died; servers without
        # /health (404) are judged by /v1/models alone.
        if answer.status_code != 404 and answer.status_code >= 300:
            raise http_errors.from_status(answer.status_code, answer.content, url=f"{url}/health")
        self._models.pop(url, None)
        data, _ = await get_json(
            self._client, f"{url}/v1/models", backend="vllm", hint=hint, timeout=timeout
        )
        listed = data.get("data") if isinstance(data, dict) else None
        ids = [m.get("id") for m in listed or [] if isinstance(m, dict)]
        served = self.route.served_model
        if ids and not served:
            self._models[url] = str(ids[0])
        if served and ids and served not in ids:
            raise AiError(3043, f"serves {', '.join(map(str, ids))}, not {served}")
        return f"serving {served or (ids[0] if ids else 'no model')}"


#: tokenizer endpoints of OpenAI-compatible servers: kind -> (model, prompt) -> (path, body).
_TOKENIZERS: dict[str, Any] = {
    "vllm": lambda model, prompt: ("/tokenize", {"model": model, "prompt": prompt}),
    "llama.cpp": lambda model, prompt: ("/tokenize", {"content": prompt}),
    "llama-cpp-python": lambda model, prompt: (
        "/extras/tokenize/count",
        {"model": model, "input": prompt},
    ),
}


def _usage(usage: dict[str, Any], chunks: int, url: str) -> Usage:
    # Without a usage frame, one streamed chunk per token is the norm (vLLM, llama.cpp).
    try:
        return Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
    except (TypeError, ValueError):
        raise http_errors.malformed(url, f"usage is not token counts: {usage!r}") from None

