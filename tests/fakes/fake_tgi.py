"""A protocol-faithful fake text-generation-inference (TGI) server (starlette).

Written from TGI's sources and OpenAPI document (read, not copied):
- `router/src/lib.rs`: `GenerateRequest {inputs, parameters, stream}`, `GenerateParameters`
  (temperature, repetition_penalty, frequency_penalty, top_k, top_p, typical_p, do_sample,
  max_new_tokens, stop, truncate, details, seed, adapter_id...), `StreamResponse {index,
  token {id, text, logprob, special}, generated_text, details}` where only the last frame
  has `generated_text` and (with `details: true`) `StreamDetails {finish_reason,
  generated_tokens, seed, input_length}`; `Info` (model_id, max_input_tokens,
  max_total_tokens, max_stop_sequences, ...); `ErrorResponse {error, error_type}`.
- `router/src/validation.rs`: the checks and their messages, in order ("`temperature` must
  be strictly positive", "`top_p` must be > 0.0 and < 1.0", "`max_new_tokens` must be
  strictly positive", "`inputs` tokens + `max_new_tokens` must be <= N. Given: ...",
  "`inputs` must have less than N tokens. Given: M").
- `router/src/server.rs`: 422 validation, 424 generation, 429 overloaded ("Model is
  overloaded"), SSE frames written `data:{json}` by axum, errors mid-stream as an
  `ErrorResponse` frame; `/health` 200 when ready, 503 otherwise; `/tokenize` returns
  `[{id, text, start, stop}]`.

- the Messages API, `POST /v1/chat/completions` (`ChatRequest`: messages, max_tokens,
  temperature with 0 meaning greedy, top_p, seed, stop, stream, stream_options; OpenAI
  `chat.completion.chunk` frames, the last with `usage`, then `data: [DONE]`), rendering
  `chat_template` with jinja2; without one, 422 `template_error` "Template error:
  template not found". `rendered` records each prompt it built.

Tokenizer: `<s>` then whitespace words. Replies are scripted; knobs script failures and
counters record what the server saw (requests, /info and /tokenize calls, disconnects).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def tokenize(text: str) -> list[str]:
    return ["<s>", *text.split()]


@dataclass
class FakeTgi:
    model_id: str = "meta-llama/Llama-2-7b-chat-hf"
    reply: str = "Hello from the fake TGI server, token by token."
    max_input_tokens: int = 4095
    max_total_tokens: int = 4096
    max_stop_sequences: int = 4
    legacy_info: bool = False  # TGI < 2 named the limit `max_input_length`
    has_tokenize: bool = True
    token_delay: float = 0.0
    # scripted failures
    fail_status: int | None = None
    fail_error_type: str = "generation"
    fail_message: str = "scripted failure"
    error_after: int | None = None
    malformed_after: int | None = None
    hang_after: int | None = None
    no_final: bool = False  # close the stream before the frame with generated_text
    health_status: int = 200
    chat_template: str | None = None  # the served model's template (None: it has none)
    # records
    requests: list[dict[str, Any]] = field(default_factory=list)
    peers: list[int] = field(default_factory=list)  # client port of each generate request
    info_calls: int = 0
    tokenize_calls: int = 0
    disconnects: int = 0
    completed: int = 0
    tokens_sent: int = 0
    rendered: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/health", self.health),
                Route("/info", self.info),
                Route("/tokenize", self.tokenize, methods=["POST"]),
                Route("/generate", self.generate, methods=["POST"]),
                Route("/generate_stream", self.generate_stream, methods=["POST"]),
                Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            ]
        )

    def error(self, status: int, message: str, kind: str) -> Response:
        return JSONResponse({"error": message, "error_type": kind}, status_code=status)

    async def health(self, request: Request) -> Response:
        if self.health_status != 200:
            return self.error(self.health_status, "unhealthy", "healthcheck")
        return Response(status_code=200)

    async def info(self, request: Request) -> Response:
        self.info_calls += 1
        limit_key = "max_input_length" if self.legacy_info else "max_input_tokens"
        return JSONResponse(
            {
                "model_id": self.model_id,
                "model_sha": None,
                "model_dtype": "torch.float16",
                "model_device_type": "cuda",
                "model_pipeline_tag": "text-generation",
                "max_concurrent_requests": 128,
                "max_best_of": 2,
                "max_stop_sequences": self.max_stop_sequences,
                limit_key: self.max_input_tokens,
                "max_total_tokens": self.max_total_tokens,
                "validation_workers": 2,
                "max_client_batch_size": 4,
                "router": "text-generation-router",
                "version": "3.0.0",
                "sha": None,
                "docker_label": None,
            }
        )

    async def tokenize(self, request: Request) -> Response:
        if not self.has_tokenize:
            return Response(status_code=404)
        self.tokenize_calls += 1
        body = await request.json()
        tokens, offset = [], 0
        for i, text in enumerate(tokenize(body.get("inputs", ""))):
            start = body["inputs"].find(text, offset) if i else 0
            stop = start + len(text) if i else 0
            offset = max(offset, stop)
            tokens.append({"id": i + 1, "text": text, "start": start, "stop": stop})
        return JSONResponse(tokens)

    def validate(self, body: dict[str, Any]) -> tuple[str, int] | tuple[None, int]:
        """TGI's checks in its order -> (message or None, input length)."""
        p = body.get("parameters") or {}
        if p.get("temperature") is not None and p["temperature"] <= 0:
            return "`temperature` must be strictly positive", 0
        if p.get("repetition_penalty") is not None and p["repetition_penalty"] <= 0:
            return "`repetition_penalty` must be strictly positive", 0
        if p.get("frequency_penalty") is not None and not -2 <= p["frequency_penalty"] <= 2:
            return "`frequency_penalty` must be >= -2.0 and <= 2.0", 0
        if p.get("top_p") is not None and not 0 < p["top_p"] < 1:
            return "`top_p` must be > 0.0 and < 1.0", 0
        if p.get("top_k") is not None and p["top_k"] <= 0:
            return "`top_k` must be strictly positive", 0
        if p.get("max_new_tokens") == 0:
            return "`max_new_tokens` must be strictly positive", 0
        stop = p.get("stop") or []
        if len(stop) > self.max_stop_sequences:
            return (
                f"`stop` supports up to {self.max_stop_sequences} stop sequences. "
                f"Given: {len(stop)}",
                0,
            )
        if not body.get("inputs"):
            return "`inputs` cannot be empty", 0
        length = len(tokenize(body["inputs"]))
        new = p.get("max_new_tokens") or 100
        if length + new > self.max_total_tokens:
            return (
                f"`inputs` tokens + `max_new_tokens` must be <= {self.max_total_tokens}. "
                f"Given: {length} `inputs` tokens and {new} `max_new_tokens`",
                length,
            )
        if length > self.max_input_tokens:
            return (
                f"`inputs` must have less than {self.max_input_tokens} tokens. Given: {length}",
                length,
            )
        return None, length

    def plan(self, params: dict[str, Any]) -> tuple[list[str], str]:
        words = self.reply.split(" ")
        tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
        limit = params.get("max_new_tokens") or 100
        stops = params.get("stop") or []
        for i in range(len(tokens)):
            if any(s in "".join(tokens[: i + 1]) for s in stops):
                return tokens[: i + 1], "stop_sequence"
        if len(tokens) >= limit:
            return tokens[:limit], "length"
        return [*tokens, "</s>"], "eos_token"

    async def check(self, request: Request) -> tuple[dict[str, Any] | None, Response | None, int]:
        body = await request.json()
        self.requests.append(body)
        self.peers.append(request.client.port if request.client else 0)
        if self.fail_status is not None:
            kind = "overloaded" if self.fail_status == 429 else self.fail_error_type
            message = "Model is overloaded" if self.fail_status == 429 else self.fail_message
            return None, self.error(self.fail_status, message, kind), 0
        problem, length = self.validate(body)
        if problem:
            return None, self.error(422, problem, "validation"), length
        return body, None, length

    async def chat_completions(self, request: Request) -> Response:
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        body = await request.json()
        self.requests.append(body)
        if self.chat_template is None:
            return self.error(422, "Template error: template not found", "template_error")

        def raise_exception(message: str) -> None:
            raise jinja2.TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        try:
            prompt = env.from_string(self.chat_template).render(
                messages=body["messages"], bos_token="<s>", eos_token="</s>",
                add_generation_prompt=True)
        except jinja2.TemplateError as exc:
            return self.error(422, f"Template error: {exc}", "template_error")
        self.rendered.append(prompt)
        temperature = body.get("temperature")
        params = {"max_new_tokens": body.get("max_tokens") or 100, "stop": body.get("stop"),
                  "do_sample": temperature != 0.0}
        tokens, finish = self.plan(params)
        prompt_tokens = len(tokenize(prompt))

        async def frames():
            for i, token in enumerate(tokens):
                last = i == len(tokens) - 1
                chunk = {"object": "chat.completion.chunk", "model": self.model_id,
                         "choices": [{"index": 0, "delta": {"role": "assistant",
                                                            "content": token},
                                      "finish_reason": finish if last else None}]}
                if last and (body.get("stream_options") or {}).get("include_usage"):
                    chunk["usage"] = {"prompt_tokens": prompt_tokens,
                                      "completion_tokens": len(tokens),
                                      "total_tokens": prompt_tokens + len(tokens)}
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    async def generate(self, request: Request) -> Response:
        body, failure, _ = await self.check(request)
        if failure is not None:
            return failure
        params = body.get("parameters") or {}
        tokens, finish = self.plan(params)
        text = "".join(t for t in tokens if t != "</s>")
        self.completed += 1
        details = {
            "finish_reason": finish,
            "generated_tokens": len(tokens),
            "seed": params.get("seed"),
            "prefill": [],
            "tokens": [],
        }
        return JSONResponse({"generated_text": text, "details": details})

    async def generate_stream(self, request: Request) -> Response:
        body, failure, length = await self.check(request)
        if failure is not None:
            return failure
        params = body.get("parameters") or {}
        tokens, finish = self.plan(params)
        return StreamingResponse(
            self.stream(tokens, finish, params, length), media_type="text/event-stream"
        )

    async def stream(self, tokens, finish, params, input_length):
        finished = False
        try:
            for i, text in enumerate(tokens):
                if self.error_after is not None and i == self.error_after:
                    err = {
                        "error": "Request failed during generation: Server error: "
                        "CUDA out of memory",
                        "error_type": "generation",
                    }
                    yield f"data:{json.dumps(err)}\n\n"
                    finished = True
                    return
                if self.malformed_after is not None and i == self.malformed_after:
                    yield "data:<html>502 Bad Gateway</html>\n\n"
                if self.hang_after is not None and i == self.hang_after:
                    await asyncio.sleep(3600)
                if self.no_final and i == len(tokens) - 1:
                    finished = True
                    return
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                last = i == len(tokens) - 1
                special = text == "</s>"
                frame = {
                    "index": i + 1,
                    "token": {"id": 1000 + i, "text": text, "logprob": -0.25, "special": special},
                    "generated_text": "".join(t for t in tokens if t != "</s>") if last else None,
                    "details": None,
                }
                if last and params.get("details"):
                    frame["details"] = {
                        "finish_reason": finish,
                        "generated_tokens": len(tokens),
                        "seed": params.get("seed"),
                        "input_length": input_length,
                    }
                yield f"data:{json.dumps(frame)}\n\n"
                self.tokens_sent += 1
            finished = True
        finally:
            if finished:
                self.completed += 1
            else:
                self.disconnects += 1
