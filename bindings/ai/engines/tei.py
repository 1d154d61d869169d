"""The `tei` engine: Hugging Face text-embeddings-inference over its native API.

What edge uses of TEI's API (its OpenAPI document, `docs/openapi.json`, v1.8):

| call            | sent / read                                                            |
|-----------------|------------------------------------------------------------------------|
| `POST /embed`   | `{"inputs": [texts], "normalize": true, "truncate": true}` -> `[[f32]]`;|
|                 | `x-compute-tokens` (response header) is the usage                      |
| `GET /info`     | `model_id`, `model_type.embedding.pooling`, `max_client_batch_size`    |
|                 | (default 32: larger batches are split and sent concurrently)           |
| `GET /health`   | 200 healthy, 503 not                                                   |

`truncate: true` because Cloudflare's models take over-long inputs and cut them (edge's
stand-in does the same); TEI would otherwise answer 413/422. Errors are TEI's
`{"error", "error_type"}` (`http_errors`: Validation / Tokenizer / Empty -> 3010,
Overloaded or 429 -> 3040, Backend / Unhealthy -> 3043). TEI pools as the server was
started (`--pooling`), so a request for another pooling (omni-bge's `pooling: cls`) is
a 5006 naming both, never a silently different vector. `/embed_all` (token vectors) has
no Cloudflare counterpart and is not used.

`edge ai serve MODEL --engine tei` starts the server and writes this route
(`engine = "tei"`, `urls`, `served_model`, `options.api_key_env`).
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import httpx

from bindings.ai.engines import http_errors
from bindings.ai.engines.base import EngineLabel, TaskRequest
from bindings.ai.engines.http_backend import HTTP_OPTIONS, HttpEngine, get_json, post_json
from bindings.ai.engines.replicas import Replica
from bindings.ai.errors import AiError, bad_input
from bindings.ai.routing import Route
from bindings.ai.tasks.text_embeddings import TEXT_EMBEDDINGS, EmbeddingRequest, Embeddings

CAPABILITIES = frozenset({TEXT_EMBEDDINGS})
OPTIONS = {k: v for k, v in HTTP_OPTIONS.items() if k != "loras"}
DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_BATCH = 32  # TEI's --max-client-batch-size default


def create(route: Route, *, client: httpx.AsyncClient | None = None) -> TeiEngine:
    return TeiEngine(route, client=client)


class TeiEngine(HttpEngine):
    """See the module docstring. `client` is injectable (tests, a shared pool)."""

    name = "tei"
    capabilities = CAPABILITIES

    def __init__(self, route: Route, *, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(route, [u.rstrip("/") for u in route.urls] or [DEFAULT_URL], client)
        self._info: dict[str, dict[str, Any]] = {}  # replica URL -> its /info

    def describe(self, model: str) -> EngineLabel:
        discovered = next((i.get("model_id") for i in self._info.values()), None)
        return EngineLabel("tei", model=self.route.served_model or discovered,
                           where=self.replicas.label(), detail="model from /info")

    async def generate(self, request: Any) -> Any:  # pragma: no cover - never routed here
        raise AiError(5007, "the tei engine serves text embeddings, not text generation")

    async def infer(self, request: TaskRequest) -> Embeddings:
        if not isinstance(request, EmbeddingRequest):
            raise AiError(5007, f"tei engine: it serves text embeddings, not {request.capability}")
        answers = self.replicas.stream(lambda replica: self._embed_on(replica, request))
        async with aclosing(answers):
            async for answer in answers:
                return answer
        raise AiError(3043, "tei engine: no replica answered")  # pragma: no cover

    async def _embed_on(self, replica: Replica, request: EmbeddingRequest) -> Any:
        url, hint = replica.url, self.hint(replica.url)
        info = await self.info(url)
        pooling = _pooling(info)
        if request.pooling and pooling and request.pooling != pooling:
            raise bad_input(f"Error: {request.model} is served by TEI at {url} with "
                            f"{pooling} pooling (fixed by its --pooling); pooling "
                            f"{request.pooling!r} is not available on this route")
        size = int(info.get("max_client_batch_size") or DEFAULT_BATCH)
        batches = [request.texts[i : i + size] for i in range(0, len(request.texts), size)]
        answers = await asyncio.gather(*(
            post_json(self._client, f"{url}/embed",
                      {"inputs": batch, "normalize": True, "truncate": True},
                      backend="tei", hint=hint)
            for batch in batches))
        vectors: list[list[float]] = []
        tokens = 0
        for (data, headers), batch in zip(answers, batches, strict=True):
            if (not isinstance(data, list) or len(data) != len(batch)
                    or not all(isinstance(v, list) for v in data)):
                raise http_errors.malformed(f"{url}/embed",
                                            f"expected {len(batch)} vectors, got {str(data)[:200]}")
            vectors.extend(data)
            tokens += _int(headers.get("x-compute-tokens"))
        yield Embeddings(vectors, tokens, pooling or request.pooling)

    async def info(self, url: str) -> dict[str, Any]:
        """The replica's `/info` (cached until the next health check)."""
        if url not in self._info:
            data, _ = await get_json(self._client, f"{url}/info", backend="tei",
                                     hint=self.hint(url))
            if not isinstance(data, dict):
                raise http_errors.malformed(f"{url}/info", f"not an object: {str(data)[:200]}")
            self._info[url] = data
        return self._info[url]

    async def _probe(self, replica: Replica) -> str:
        url = replica.url
        timeout = float(self.route.options.get("health_timeout", 3.0))
        await get_json(self._client, f"{url}/health", backend="tei", hint=self.hint(url),
                       timeout=timeout)
        self._info.pop(url, None)
        info = await self.info(url)
        model = info.get("model_id")
        served = self.route.served_model
        if served and model and served != model:
            raise AiError(3043, f"serves {model}, not {served}")
        if "embedding" not in (info.get("model_type") or {}):
            kinds = ", ".join(info.get("model_type") or {}) or "unknown"
            raise AiError(3043, f"serves {model} as a {kinds} model, not an embedding model")
        return f"serving {model} ({_pooling(info)} pooling)"


def _pooling(info: dict[str, Any]) -> str | None:
    embedding = (info.get("model_type") or {}).get("embedding")
    pooling = embedding.get("pooling") if isinstance(embedding, dict) else None
    return pooling if isinstance(pooling, str) else None


def _int(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0
