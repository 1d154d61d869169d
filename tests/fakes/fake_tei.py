"""A protocol-faithful fake text-embeddings-inference (TEI) server (starlette).

Written from TEI's OpenAPI document and router (read, not copied):
- `POST /embed`: `EmbedRequest {inputs: str | [str], normalize = true, truncate = false,
  truncation_direction, prompt_name, dimensions}` -> `[[f32]]`, one vector per input;
  response headers `x-compute-type`, `x-compute-characters`, `x-compute-tokens`,
  `x-total-time`...;
- `POST /embed_all`: the same request -> `[[[f32]]]`, one vector per token;
- `GET /info`: `Info {model_id, model_sha, model_dtype, model_type: {"embedding":
  {"pooling"}}, max_concurrent_requests, max_input_length, max_batch_tokens,
  max_client_batch_size, tokenization_workers, version}`;
- `GET /health`: 200, or 503 `{"error": "unhealthy", "error_type": "Unhealthy"}`;
- errors are `ErrorResponse {error, error_type}`: 400 `Empty` ("Batch is empty"),
  413 `Validation` for a batch over `max_client_batch_size` ("batch size N > maximum
  allowed batch size M") and, without `truncate`, an input over `max_input_length`
  ("Input validation error: `inputs` must have less than M tokens. Given: N"),
  422 `Tokenizer`, 424 `Backend`, 429 `Overloaded` ("Model is overloaded");
- `--api-key`: requests without `Authorization: Bearer <key>` get 401.

Tokenizer: `[CLS]`, whitespace words, `[SEP]`. Vectors: hashed bags of words (texts
sharing words come out close), `dimensions` long, unit length when `normalize`.
Knobs script failures; `requests` records the bodies the server saw.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def tokenize(text: str) -> list[str]:
    return ["[CLS]", *text.split(), "[SEP]"]


def hashed_vector(words: list[str], dimensions: int, normalize: bool = True) -> list[float]:
    """A bag of words hashed into `dimensions` buckets (shared words, close vectors)."""
    vector = [0.0] * dimensions
    for word in words:
        digest = hashlib.sha256(word.lower().strip(".,!?").encode()).digest()
        vector[int.from_bytes(digest[:4], "little") % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector] if normalize else vector


@dataclass
class FakeTei:
    model_id: str = "BAAI/bge-base-en-v1.5"
    dimensions: int = 768
    pooling: str = "cls"
    max_input_length: int = 512
    max_client_batch_size: int = 32
    api_key: str | None = None
    healthy: bool = True
    fail_with: tuple[int, str, str] | None = None  # (status, message, error_type) for /embed
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/health", self.health),
            Route("/info", self.info),
            Route("/embed", self.embed, methods=["POST"]),
            Route("/embed_all", self.embed_all, methods=["POST"]),
        ])

    @staticmethod
    def error(status: int, message: str, kind: str) -> Response:
        return JSONResponse({"error": message, "error_type": kind}, status_code=status)

    def _denied(self, request: Request) -> Response | None:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Response(status_code=401)
        return None

    async def health(self, request: Request) -> Response:
        if not self.healthy:
            return self.error(503, "unhealthy", "Unhealthy")
        return Response(status_code=200)

    async def info(self, request: Request) -> Response:
        return JSONResponse({
            "model_id": self.model_id, "model_sha": None, "model_dtype": "float16",
            "model_type": {"embedding": {"pooling": self.pooling}},
            "max_concurrent_requests": 512, "max_input_length": self.max_input_length,
            "max_batch_tokens": 16384, "max_batch_requests": None,
            "max_client_batch_size": self.max_client_batch_size,
            "auto_truncate": False, "tokenization_workers": 2, "version": "1.8.0",
        })

    async def _checked(self, request: Request) -> tuple[list[list[str]], dict, Response | None]:
        denied = self._denied(request)
        if denied is not None:
            return [], {}, denied
        try:
            body = await request.json()
        except ValueError:
            return [], {}, self.error(422, "Failed to parse the request body as JSON",
                                      "Validation")
        self.requests.append(body)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return [], body, self.error(422, "inputs: data did not match any variant",
                                        "Validation")
        if not texts:
            return [], body, self.error(400, "Batch is empty", "Empty")
        if len(texts) > self.max_client_batch_size:
            return [], body, self.error(
                413, f"batch size {len(texts)} > maximum allowed batch size "
                     f"{self.max_client_batch_size}", "Validation")
        if self.fail_with is not None:
            status, message, kind = self.fail_with
            return [], body, self.error(status, message, kind)
        tokens = []
        for text in texts:
            ids = tokenize(text)
            if len(ids) > self.max_input_length:
                if not body.get("truncate"):
                    return [], body, self.error(
                        413, "Input validation error: `inputs` must have less than "
                             f"{self.max_input_length} tokens. Given: {len(ids)}", "Validation")
                ids = ids[: self.max_input_length]
            tokens.append(ids)
        return tokens, body, None

    def vector(self, words: list[str], normalize: bool) -> list[float]:
        return hashed_vector(words, self.dimensions, normalize)

    async def embed(self, request: Request) -> Response:
        tokens, body, failed = await self._checked(request)
        if failed is not None:
            return failed
        normalize = body.get("normalize", True)
        vectors = [self.vector(ids[1:-1] or ids, normalize) for ids in tokens]
        count = sum(len(ids) for ids in tokens)
        return JSONResponse(vectors, headers={"x-compute-type": "cpu",
                                              "x-compute-tokens": str(count)})

    async def embed_all(self, request: Request) -> Response:
        tokens, _body, failed = await self._checked(request)
        if failed is not None:
            return failed
        return JSONResponse([[self.vector([t], False) for t in ids] for ids in tokens])
