"""A protocol-faithful fake vLLM OpenAI-compatible server (starlette), for tests and benches.

Written from vLLM's own sources (read, not copied):
- `vllm/entrypoints/openai/completion/protocol.py` (`CompletionRequest` fields, `stream_options`
  only with `stream=True`, `max_tokens` default 16), and `CompletionStreamResponse` frames:
  `{"id": "cmpl-...", "object": "text_completion", "created", "model", "choices":
  [{"index", "text", "logprobs", "finish_reason", "stop_reason"}]}`, then with
  `include_usage` a last frame with `"choices": []` and `"usage"`, then `data: [DONE]`.
- `vllm/sampling_params.py` `_verify_args` (messages: "top_p must be in (0, 1], got 1.5.",
  "temperature must be in [0, 2], got 3.0.", "repetition_penalty must be greater than
  zero, got 0.0.", "presence_penalty must be in [-2, 2], got ...", "max_tokens must be at
  least 1, got 0.", "stop cannot contain an empty string.").
- the error body `ErrorResponse` (`{"error": {"message", "type", "param", "code"}}`; older
  releases flat `{"object": "error", "message", "type", "param", "code"}`), 404
  "The model `x` does not exist.", and the context-length 400 "This model's maximum
  context length is N tokens. However, you requested M tokens (...)".
- `/health` (200, empty body), `/v1/models` (`{"object": "list", "data": [{"id", ...}]}`)
  and `/tokenize` (`{"model", "prompt"}` -> `{"count", "max_model_len", "tokens"}`).
- `/v1/chat/completions` (`ChatCompletionRequest`: `messages`, `add_generation_prompt`,
  `continue_final_message`; `ChatCompletionStreamResponse` frames with
  `choices[].delta`, first `{"role": "assistant", "content": ""}`), rendering the
  messages with `chat_template` (Jinja, as transformers does: sandboxed, `bos_token`,
  `raise_exception`); without one, vLLM's 400 "As of transformers v4.44, default chat
  template is no longer allowed, ...". `rendered` records each rendered prompt.
- tools on the chat endpoint (`tools`, `tool_choice`; `delta.tool_calls` frames: `id`,
  `type` and `function.name` first, then `function.arguments` in pieces, finish
  `tool_calls`), and the 400 for "auto" without `--enable-auto-tool-choice`
  (`serving_chat.py`).

The tokenizer is whitespace words; replies are scripted. Knobs (attributes) script
failures, and counters record what happened (requests received, disconnects).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class FakeVllm:
    model: str = "TheBloke/Llama-2-13B-chat-AWQ"
    loras: tuple[str, ...] = ()
    reply: str = "Hello from the fake vLLM server, one word at a time."
    max_model_len: int = 4096
    token_delay: float = 0.0
    error_style: str = "nested"  # "nested" (current vLLM) or "flat" (older releases)
    # scripted failures
    fail_status: int | None = None  # answer every completion with this status
    fail_message: str = "scripted failure"
    error_after: int | None = None  # emit an error frame after this many tokens
    malformed_after: int | None = None  # emit a non-JSON frame after this many tokens
    hang_after: int | None = None  # stop sending (but keep the connection) after N tokens
    no_done: bool = False  # end the stream without `data: [DONE]`
    no_usage: bool = False  # ignore stream_options.include_usage (like some servers)
    health_status: int = 200
    embedding_dimensions: int | None = None  # a pooling model (`/v1/embeddings`) when set
    chat_template: str | None = None  # the served model's template (None: it has none)
    bos_token: str = "<s>"
    eos_token: str = "</s>"
    # tools: vLLM's `--enable-auto-tool-choice --tool-call-parser NAME` (None: not set, so
    # "auto" tool choice is a 400). With tools offered, the scripted "model" calls the first
    # offered (or the chosen) tool with `tool_arguments`, unless the last message is a
    # tool result: then it answers with `reply`.
    tool_parser: str | None = None
    tool_arguments: dict[str, Any] = field(default_factory=lambda: {"city": "London"})
    # records
    requests: list[dict[str, Any]] = field(default_factory=list)
    peers: list[int] = field(default_factory=list)  # client port of each completion request
    rendered: list[str] = field(default_factory=list)  # prompts the chat endpoint built
    disconnects: int = 0
    tokenize_calls: int = 0
    completed: int = 0
    active: int = 0
    tokens_sent: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/health", self.health),
                Route("/v1/models", self.list_models),
                Route("/v1/completions", self.completions, methods=["POST"]),
                Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
                Route("/tokenize", self.tokenize, methods=["POST"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
            ]
        )

    async def health(self, request: Request) -> Response:
        return Response(status_code=self.health_status)

    async def embeddings(self, request: Request) -> Response:
        """vLLM's `POST /v1/embeddings` (`EmbeddingCompletionRequest`: model, input str or
        list, encoding_format, dimensions) on a pooling model (`embedding_dimensions` set);
        a generative model answers 400 "The model does not support Embeddings API"."""
        from tests.fakes.fake_tei import hashed_vector

        body = await request.json()
        self.requests.append(body)
        if self.fail_status is not None:
            return self.error(self.fail_status, self.fail_message, "BadRequestError")
        if not self.embedding_dimensions:
            return self.error(400, "The model does not support Embeddings API",
                              "BadRequestError")
        if body.get("model") not in (self.model, *self.loras):
            return self.error(404, f"The model `{body.get('model')}` does not exist.",
                              "NotFoundError", "model")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts:
            return self.error(400, "input must be a non-empty string or list",
                              "BadRequestError", "input")
        tokens = [len(t.split()) + 1 for t in texts]  # BOS + whitespace words
        if max(tokens) > self.max_model_len:
            return self.error(400, f"This model's maximum context length is "
                                   f"{self.max_model_len} tokens. However, you requested "
                                   f"{max(tokens)} tokens in the input for embedding "
                                   "generation. Please reduce the length of the input.",
                              "BadRequestError")
        data = [{"object": "embedding", "index": i,
                 "embedding": hashed_vector(t.split(), self.embedding_dimensions)}
                for i, t in enumerate(texts)]
        data.reverse()  # servers may answer out of order: clients read `index`
        return JSONResponse({"id": "embd-fake", "object": "list", "created": int(time.time()),
                             "model": body["model"], "data": data,
                             "usage": {"prompt_tokens": sum(tokens), "total_tokens": sum(tokens),
                                       "completion_tokens": 0}})

    async def tokenize(self, request: Request) -> Response:
        """vLLM's `POST /tokenize` (`TokenizeCompletionRequest` -> `count`, `tokens`)."""
        self.tokenize_calls += 1
        body = await request.json()
        if "prompt" not in body:
            return self.error(400, "Field required: prompt", "BadRequestError", "prompt")
        tokens = list(range(len(str(body["prompt"]).split())))
        return JSONResponse(
            {"count": len(tokens), "max_model_len": self.max_model_len, "tokens": tokens}
        )

    async def list_models(self, request: Request) -> Response:
        now = int(time.time())
        data = [
            {
                "id": name,
                "object": "model",
                "created": now,
                "owned_by": "vllm",
                "root": name,
                "parent": None if name == self.model else self.model,
                "max_model_len": self.max_model_len,
            }
            for name in (self.model, *self.loras)
        ]
        return JSONResponse({"object": "list", "data": data})

    def error(self, status: int, message: str, kind: str, param: str | None = None) -> Response:
        body = {"message": message, "type": kind, "param": param, "code": status}
        if self.error_style == "flat":
            return JSONResponse({"object": "error", **body}, status_code=status)
        return JSONResponse({"error": body}, status_code=status)

    def validate(self, body: dict[str, Any]) -> str | None:
        """vLLM's checks, in its order and wording; None when the request is valid."""
        if body.get("stream_options") and not body.get("stream"):
            return "Stream options can only be defined when `stream=True`."
        if not body.get("prompt"):
            return "Either prompt or prompt_embeds must be provided and non-empty."
        for name in ("presence_penalty", "frequency_penalty"):
            value = body.get(name)
            if value is not None and not -2.0 <= value <= 2.0:
                return f"{name} must be in [-2, 2], got {float(value)}."
        rep = body.get("repetition_penalty")
        if rep is not None and rep <= 0:
            return f"repetition_penalty must be greater than zero, got {float(rep)}."
        temp = body.get("temperature")
        if temp is not None and temp < 0:
            return f"temperature must be non-negative, got {float(temp)}."
        if temp is not None and temp > 2:
            return f"temperature must be in [0, 2], got {float(temp)}."
        top_p = body.get("top_p")
        if top_p is not None and not 0 < top_p <= 1:
            return f"top_p must be in (0, 1], got {float(top_p)}."
        top_k = body.get("top_k")
        if top_k is not None and top_k < -1:
            return f"top_k must be 0 (disable), or at least 1, got {top_k}."
        max_tokens = body.get("max_tokens", 16)
        if max_tokens is not None and max_tokens < 1:
            return f"max_tokens must be at least 1, got {max_tokens}."
        stop = body.get("stop") or []
        if any(not s for s in ([stop] if isinstance(stop, str) else stop)):
            return "stop cannot contain an empty string."
        return None

    async def completions(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return self.error(400, "Invalid JSON body", "BadRequestError")
        self.requests.append(body)
        self.peers.append(request.client.port if request.client else 0)
        if self.fail_status is not None:
            kind = {429: "RateLimitError", 503: "ServiceUnavailableError"}.get(
                self.fail_status, "InternalServerError"
            )
            return self.error(self.fail_status, self.fail_message, kind)
        if body.get("model") not in (self.model, *self.loras):
            return self.error(
                404, f"The model `{body.get('model')}` does not exist.", "NotFoundError", "model"
            )
        problem = self.validate(body)
        if problem:
            return self.error(400, problem, "BadRequestError")
        prompt_tokens = len(str(body["prompt"]).split())
        max_tokens = body.get("max_tokens") or 16
        if prompt_tokens + max_tokens > self.max_model_len:
            return self.error(
                400,
                f"This model's maximum context length is {self.max_model_len} tokens. However, "
                f"you requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in the "
                f"messages, {max_tokens} in the completion). Please reduce the length of the "
                "messages or completion.",
                "BadRequestError",
            )
        tokens, finish = self.tokens(body, max_tokens)
        ident = f"cmpl-{uuid.uuid4().hex}"
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
        }
        if not body.get("stream"):
            self.completed += 1
            return JSONResponse(
                {
                    "id": ident,
                    "object": "text_completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "usage": usage,
                    "choices": [
                        {
                            "index": 0,
                            "text": "".join(tokens),
                            "logprobs": None,
                            "finish_reason": finish,
                            "stop_reason": None,
                        }
                    ],
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            self.stream(ident, body["model"], tokens, finish, usage, include_usage),
            media_type="text/event-stream",
        )

    def render_chat(self, body: dict[str, Any]) -> str:
        """The chat template applied as vLLM applies it (through transformers' rules)."""
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise jinja2.TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=["jinja2.ext.loopcontrols"])
        env.globals["raise_exception"] = raise_exception
        messages = body["messages"]
        continues = bool(body.get("continue_final_message"))
        text = env.from_string(self.chat_template or "").render(
            messages=messages, bos_token=self.bos_token, eos_token=self.eos_token,
            tools=body.get("tools"),
            add_generation_prompt=body.get("add_generation_prompt", True) and not continues)
        if continues:  # cut after the final message's content, as transformers does
            final = str(messages[-1].get("content") or "").strip()
            text = text[: text.rindex(final) + len(final)]
        return text

    async def chat_completions(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return self.error(400, "Invalid JSON body", "BadRequestError")
        self.requests.append(body)
        if body.get("model") not in (self.model, *self.loras):
            return self.error(
                404, f"The model `{body.get('model')}` does not exist.", "NotFoundError", "model"
            )
        if not isinstance(body.get("messages"), list):
            return self.error(400, "Field required: messages", "BadRequestError", "messages")
        if body.get("add_generation_prompt") and body.get("continue_final_message"):
            return self.error(400, "Cannot set both `continue_final_message` and "
                              "`add_generation_prompt` to True.", "BadRequestError")
        if self.chat_template is None:
            return self.error(
                400, "As of transformers v4.44, default chat template is no longer allowed, so "
                "you must provide a chat template if the tokenizer does not define one.",
                "BadRequestError")
        try:
            prompt = self.render_chat(body)
        except Exception as exc:  # a template that refuses the messages
            return self.error(400, str(exc), "BadRequestError")
        self.rendered.append(prompt)
        problem = self.validate({**body, "prompt": prompt})
        if problem:
            return self.error(400, problem, "BadRequestError")
        tools, choice = body.get("tools") or [], body.get("tool_choice", "auto")
        if tools and choice == "auto" and self.tool_parser is None:
            return self.error(400, '"auto" tool choice requires --enable-auto-tool-choice '
                              "and --tool-call-parser to be set", "BadRequestError")
        max_tokens = body.get("max_tokens") or 16
        tokens, finish = self.tokens(body, max_tokens)
        call = self.tool_call(tools, choice, body["messages"])
        if call is not None:
            arguments = json.dumps(call[1])
            tokens, finish = [arguments[: len(arguments) // 2], arguments[len(arguments) // 2:]], \
                "tool_calls"
        prompt_tokens = len(prompt.split())
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens),
                 "total_tokens": prompt_tokens + len(tokens)}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def frames():
            def frame(choices: list[dict[str, Any]], **extra: Any) -> str:
                chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                         "created": int(time.time()), "model": body["model"],
                         "choices": choices, **extra}
                return f"data: {json.dumps(chunk)}\n\n"

            yield frame([{"index": 0, "delta": {"role": "assistant", "content": ""},
                          "finish_reason": None}])
            if call is not None:  # vLLM's tool-call deltas: name first, then argument pieces
                head = {"index": 0, "id": f"chatcmpl-tool-{uuid.uuid4().hex}",
                        "type": "function", "function": {"name": call[0]}}
                yield frame([{"index": 0, "delta": {"tool_calls": [head]},
                              "finish_reason": None}])
            for i, token in enumerate(tokens):
                last = i == len(tokens) - 1
                delta = ({"tool_calls": [{"index": 0, "function": {"arguments": token}}]}
                         if call is not None else {"content": token})
                yield frame([{"index": 0, "delta": delta,
                              "finish_reason": finish if last else None}])
            if include_usage and not self.no_usage:
                yield frame([], usage=usage)
            yield "data: [DONE]\n\n"
            self.completed += 1

        return StreamingResponse(frames(), media_type="text/event-stream")

    def tool_call(self, tools: list[Any], choice: Any, messages: list[Any]
                  ) -> tuple[str, dict[str, Any]] | None:
        """(name, arguments) the scripted model calls, or None for a text reply."""
        if not tools or choice == "none" or (messages and messages[-1].get("role") == "tool"):
            return None
        name = tools[0]["function"]["name"]
        if isinstance(choice, dict):
            name = choice["function"]["name"]
        return name, self.tool_arguments

    def tokens(self, body: dict[str, Any], max_tokens: int) -> tuple[list[str], str]:
        words = self.reply.split(" ")
        text_tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
        finish = "stop"
        if len(text_tokens) > max_tokens:
            text_tokens, finish = text_tokens[:max_tokens], "length"
        stops = body.get("stop") or []
        for i in range(len(text_tokens)):
            so_far = "".join(text_tokens[: i + 1])
            if any(s in so_far for s in ([stops] if isinstance(stops, str) else stops)):
                return text_tokens[:i], "stop"
        return text_tokens, finish

    async def stream(self, ident, model, tokens, finish, usage, include_usage):
        def frame(choices: list[dict[str, Any]], **extra: Any) -> str:
            chunk = {
                "id": ident,
                "object": "text_completion",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(chunk)}\n\n"

        self.active += 1
        finished = False
        try:
            for i, token in enumerate(tokens):
                if self.error_after is not None and i == self.error_after:
                    err = {
                        "message": "CUDA out of memory",
                        "type": "InternalServerError",
                        "param": None,
                        "code": 500,
                    }
                    yield f"data: {json.dumps({'error': err})}\n\n"
                    yield "data: [DONE]\n\n"
                    finished = True
                    return
                if self.malformed_after is not None and i == self.malformed_after:
                    yield "data: {not json\n\n"
                if self.hang_after is not None and i == self.hang_after:
                    await asyncio.sleep(3600)
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                last = i == len(tokens) - 1
                yield frame(
                    [
                        {
                            "index": 0,
                            "text": token,
                            "logprobs": None,
                            "finish_reason": finish if last else None,
                            "stop_reason": None,
                        }
                    ]
                )
                self.tokens_sent += 1
            if include_usage and not self.no_usage:
                yield frame([], usage=usage)
            if not self.no_done:
                yield "data: [DONE]\n\n"
            finished = True
        finally:
            self.active -= 1
            if finished:
                self.completed += 1
            else:
                self.disconnects += 1


def create_app() -> Starlette:
    """For `uvicorn --factory tests.fakes.fake_vllm:create_app` (benchmarks, manual runs).

    Environment: `FAKE_VLLM_MODEL`, `FAKE_VLLM_TOKENS` (reply length in words),
    `FAKE_VLLM_TOKEN_DELAY` (seconds between tokens).
    """
    import os

    words = int(os.environ.get("FAKE_VLLM_TOKENS", "16"))
    return FakeVllm(
        model=os.environ.get("FAKE_VLLM_MODEL", FakeVllm.model),
        reply=" ".join(f"tok{i}" for i in range(words)),
        token_delay=float(os.environ.get("FAKE_VLLM_TOKEN_DELAY", "0")),
    ).app()
