"""The `tgi` engine: Hugging Face text-generation-inference over its own API.

A request for the served weights' own template (`GenerationRequest.chat`) goes to TGI's
Messages API, `POST /v1/chat/completions` (`engines.openai_chat`), which applies the
model's chat template; a model without one (422 `template_error` "template not found")
is remembered per replica and served as below with the catalogue's format. LoRA and a
trailing assistant prefix stay on the native API (TGI's chat takes neither).

`POST /generate_stream` with the prompt the binding templated (`inputs`), read as SSE:
each frame carries a `token` (`id`, `text`, `logprob`, `special`), the last one also
`generated_text` and `details` (`finish_reason`, `generated_tokens`, `seed`, and
`input_length` on TGI >= 2); an error arrives as a frame `{"error", "error_type"}`.
`GET /info` gives the model id and `max_input_tokens` (`max_input_length` before 2.0),
cached per replica; `GET /health` answers 200 once the model is loaded.
(Shapes from TGI's `router/src/lib.rs`, `server.rs`, `validation.rs` and its OpenAPI doc.)

Why httpx and not `huggingface_hub.AsyncInferenceClient`: the engine must close the
upstream response the moment the worker's client goes away (so the GPU stops), map
TGI's status *and* `error_type` onto Cloudflare's codes with the replica's URL, and fail
over between replicas only when nothing was sent; the maintained client hides the
response behind its own iterator and exception types, and would be a second connection
pool beside the one the vLLM engine already uses. The protocol is five JSON shapes.

Parameter mapping (onto `Validation::validate` in `router/src/validation.rs`):

| GenerationRequest  | sent as `parameters.`  | rule                                               |
|--------------------|------------------------|----------------------------------------------------|
| prompt             | `inputs`               | verbatim; length checked first against /info's     |
|                    |                        | `max_input_tokens` (over -> 3030 naming the limit) |
| max_tokens         | max_new_tokens         | must be >= 1 (TGI rejects 0; else 5006)            |
| temperature        | temperature, do_sample | > 0: sent, `do_sample: true`; 0: omitted and       |
|                    |                        | `do_sample: false` (greedy; TGI rejects 0)         |
| top_p              | top_p                  | in (0, 1): sent; >= 1 omitted (TGI rejects 1);     |
|                    |                        | 0: omitted and greedy (its limit)                  |
| top_k              | top_k                  | >= 1 sent; <= 0 omitted                            |
| seed               | seed                   | >= 0 sent (TGI's u64)                              |
| repetition_penalty | repetition_penalty     | > 0 sent; <= 0 omitted (TGI requires > 0; 1 = off) |
| frequency_penalty  | frequency_penalty      | clamped to [-2, 2]                                 |
| presence_penalty   | (dropped)              | TGI's native API has none                          |
| stop               | stop                   | empty strings dropped; TGI leaves the stop string  |
|                    |                        | in its text and matches only at token boundaries,  |
|                    |                        | so `stops.StopMatcher` cuts the streamed text too  |
| lora               | adapter_id             | route option `loras` maps names, else as given     |
| (always)           | details: true          | for token counts                                   |

Greedy wins: with temperature 0 or top_p 0 no sampling warper is sent, because TGI turns
any `top_k`/`top_p` back into sampling even with `do_sample: false`.

On the chat endpoint (`ChatRequest::try_into_generate` in `router/src/lib.rs`) the same
values go as `max_tokens`, `temperature` (0 when greedy: TGI's own "greedy only when
temperature is 0"), `top_p`, `seed`, `stop` and `frequency_penalty`; TGI's chat has no
`top_k` or `repetition_penalty`, and turns `presence_penalty` into a repetition penalty
(`x + 2`), so those are not sent.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from bindings.ai.engines import http_errors, openai_chat
from bindings.ai.engines.base import TEXT_GENERATION, EngineLabel, GenerationRequest, Usage
from bindings.ai.engines.http_backend import (
    DONE,
    HTTP_OPTIONS,
    HttpEngine,
    failing,
    get_json,
    sse_events,
)
from bindings.ai.engines.replicas import Replica
from bindings.ai.engines.stops import StopMatcher
from bindings.ai.errors import AiError, bad_input, context_exceeded
from bindings.ai.routing import Route

CAPABILITIES = frozenset({TEXT_GENERATION})
OPTIONS = HTTP_OPTIONS
# Tokens read past a stop string we cut, waiting for TGI's final frame (its token counts),
# before closing the stream: TGI stops there itself unless the stop ends mid-token.
_READ_AFTER_STOP = 16
DEFAULT_URL = "http://127.0.0.1:8080"
# BOS and friends the tokenizer may add: a prompt whose UTF-8 length (an upper bound on its
# byte-level token count) fits under the limit with this margin needs no /tokenize call.
_SPECIAL_TOKEN_MARGIN = 8


def create(route: Route, *, client: httpx.AsyncClient | None = None) -> TgiEngine:
    return TgiEngine(route, client=client)


def generate_parameters(request: GenerationRequest, loras: dict[str, str] | None = None) -> dict:
    """The request's fields as TGI `parameters` (the table above)."""
    if request.max_tokens < 1:
        raise bad_input(f"max_tokens must be at least 1, got {request.max_tokens}")
    params: dict[str, Any] = {"max_new_tokens": request.max_tokens, "details": True}
    greedy = request.temperature == 0 or (request.top_p is not None and request.top_p <= 0)
    if greedy:
        params["do_sample"] = False
    else:
        if request.temperature is not None:
            params["temperature"] = _finite(request.temperature)
            params["do_sample"] = True
        if request.top_p is not None and request.top_p < 1:
            params["top_p"] = request.top_p
        if request.top_k is not None and request.top_k > 0:
            params["top_k"] = request.top_k
    if request.seed is not None and request.seed >= 0:
        params["seed"] = request.seed
    if request.repetition_penalty is not None and request.repetition_penalty > 0:
        params["repetition_penalty"] = request.repetition_penalty
    if request.frequency_penalty is not None:
        params["frequency_penalty"] = max(-2.0, min(2.0, _finite(request.frequency_penalty)))
    stop = [s for s in request.stop if s]
    if stop:
        params["stop"] = stop
    if request.lora:
        params["adapter_id"] = (loras or {}).get(request.lora, request.lora)
    return params


def chat_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Native `parameters` (from `generate_parameters`) as Messages API fields (see the
    module docstring)."""
    out: dict[str, Any] = {"max_tokens": params["max_new_tokens"]}
    if params.get("do_sample") is False:
        out["temperature"] = 0.0
    elif "temperature" in params:
        out["temperature"] = params["temperature"]
    for key in ("top_p", "seed", "stop", "frequency_penalty"):
        if key in params:
            out[key] = params[key]
    return out


def _finite(value: float) -> float:
    if math.isnan(value) or math.isinf(value):
        raise bad_input(f"sampling parameters must be finite numbers, got {value}")
    return value


class TgiEngine(HttpEngine):
    """See the module docstring. `client` is injectable (tests, a shared pool)."""

    name = "tgi"
    capabilities = CAPABILITIES
    #: its Messages API applies the served model's own template (see the docstring).
    applies_chat_template = True

    def __init__(self, route: Route, *, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(route, [u.rstrip("/") for u in route.urls] or [DEFAULT_URL], client)
        self._info: dict[str, dict[str, Any]] = {}  # replica URL -> /info

    def describe(self, model: str) -> EngineLabel:
        known = next((i.get("model_id") for i in self._info.values() if i.get("model_id")), None)
        return EngineLabel("tgi", model=self.route.served_model or known,
                           where=self.replicas.label(), detail="model per /info")

    def generate(self, request: GenerationRequest) -> AsyncIterator[str | Usage]:
        try:
            params = generate_parameters(request, self.loras)
        except AiError as exc:
            return failing(exc)
        return self.replicas.stream(lambda replica: self._generate_on(replica, request, params))

    async def info(self, url: str) -> dict[str, Any]:
        """`GET /info` of one replica, cached (its limits do not change while it runs)."""
        if url not in self._info:
            data, _ = await get_json(
                self._client, f"{url}/info", backend="tgi", hint=self.hint(url)
            )
            if not isinstance(data, dict):
                raise http_errors.malformed(f"{url}/info", f"not an object: {data!r}"[:200])
            self._info[url] = data
        return self._info[url]

    async def check_prompt_length(self, url: str, prompt: str) -> None:
        """Raise 3030 when `prompt` has more tokens than the replica's `max_input_tokens`."""
        info = await self.info(url)
        limit = info.get("max_input_tokens", info.get("max_input_length"))
        if not isinstance(limit, int):
            return  # an old or unusual server: TGI validates on its own
        if len(prompt.encode()) + _SPECIAL_TOKEN_MARGIN <= limit:
            return
        try:
            tokens, _ = await get_json_post(self._client, f"{url}/tokenize", {"inputs": prompt})
        except (httpx.HTTPError, ValueError):
            return  # no /tokenize (TGI < 1.4): the server's own 422 will say it
        if isinstance(tokens, list) and len(tokens) > limit:
            model = info.get("model_id", "the model")
            raise context_exceeded(
                f"the prompt is {len(tokens)} tokens, over the max_input_tokens limit of "
                f"{limit} for {model} at {url}"
            )

    async def _generate_on(
        self, replica: Replica, request: GenerationRequest, params: dict[str, Any]
    ) -> AsyncIterator[str | Usage]:
        url = replica.url
        messages = request.messages or []
        continues = bool(messages) and messages[-1].get("role") == "assistant"
        chattable = not request.lora and not (continues and request.prompt)
        replies = openai_chat.served_or_fallback(
            url, request, self._untemplated,
            (lambda: self._chat_on(url, request, params)) if chattable else None,
            lambda: self._complete_on(url, request, params),
        )
        async with aclosing(replies):
            async for item in replies:
                yield item

    async def _chat_on(
        self, url: str, request: GenerationRequest, params: dict[str, Any]
    ) -> AsyncIterator[str | Usage]:
        """One request over the Messages API: TGI applies the model's template."""
        endpoint = f"{url}/v1/chat/completions"
        fields = openai_chat.chat_fields(request.messages or [])
        payload = {
            "model": "tgi",
            "messages": fields["messages"],
            **chat_parameters(params),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        replies = openai_chat.stream_chat(self._client, endpoint, payload, backend="tgi",
                                          hint=self.hint(url))
        async with aclosing(replies):
            async for item in replies:
                yield item

    async def _complete_on(
        self, url: str, request: GenerationRequest, params: dict[str, Any]
    ) -> AsyncIterator[str | Usage]:
        """One request over `/generate_stream`: the prompt as edge rendered it."""
        await self.check_prompt_length(url, request.prompt)
        endpoint = f"{url}/generate_stream"
        payload = {"inputs": request.prompt, "parameters": params, "stream": True}
        tokens = after_stop = 0
        stops = StopMatcher(request.stop)
        stopped = False
        final: dict[str, Any] | None = None
        events = sse_events(self._client, endpoint, payload, backend="tgi", hint=self.hint(url))
        async with aclosing(events):
            async for event in events:
                if event is DONE or final is not None:
                    # Read to the end (TGI closes right after the final frame), so the
                    # connection returns to the pool; anything after the final is ignored.
                    continue
                assert isinstance(event, dict)
                if "error" in event:
                    raise http_errors.from_stream_error(event, url=endpoint)
                token = event.get("token")
                if not isinstance(token, dict):
                    raise http_errors.malformed(endpoint, f"frame without a token: {event!r}"[:300])
                tokens += 1
                text = token.get("text")
                if stopped:
                    after_stop += 1
                elif text and not token.get("special"):
                    out, stopped = stops.feed(text)
                    if out:
                        yield out
                if event.get("generated_text") is not None:
                    final = event
                elif after_stop > _READ_AFTER_STOP:
                    break  # a stop TGI did not see (not at a token boundary): end it here
        if final is None and not stopped:
            raise http_errors.malformed(endpoint, "the stream ended before the final frame")
        if not stopped:
            tail = stops.flush()
            if tail:
                yield tail
        yield _usage(final.get("details") if final else None, tokens, endpoint)

    async def _probe(self, replica: Replica) -> str:
        """One replica for `health_all`: the model from /info; raises when it is down."""
        url, hint = replica.url, self.hint(replica.url)
        timeout = float(self.route.options.get("health_timeout", 3.0))
        await get_json(self._client, f"{url}/health", backend="tgi", hint=hint, timeout=timeout)
        self._info.pop(url, None)
        info = await self.info(url)
        limit = info.get("max_input_tokens", info.get("max_input_length"))
        return f"serving {info.get('model_id', '?')}, max_input_tokens {limit}"


async def get_json_post(
    client: httpx.AsyncClient, url: str, body: dict[str, Any]
) -> tuple[Any, int]:
    response = await client.post(url, json=body)
    if response.status_code >= 300:
        raise ValueError(f"{url}: HTTP {response.status_code}")
    return response.json(), response.status_code


def _usage(details: Any, streamed: int, url: str) -> Usage:
    if not isinstance(details, dict):
        return Usage(prompt_tokens=0, completion_tokens=streamed)
    prompt = details.get("input_length")
    if prompt is None and isinstance(details.get("prefill"), list):
        prompt = len(details["prefill"])
    try:
        return Usage(int(prompt or 0), int(details.get("generated_tokens", streamed)))
    except (TypeError, ValueError):
        raise http_errors.malformed(url, f"details are not token counts: {details!r}") from None
