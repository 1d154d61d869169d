"""OpenAI's embeddings protocol, client side: `POST /v1/embeddings`, as vLLM (its pooling
runner, `vllm serve BAAI/bge-base-en-v1.5`), llama.cpp's servers (`--embedding`), SGLang
and routers in front of them speak it.

Request `{"model", "input": [texts], "encoding_format": "float"}`; answer
`{"object": "list", "data": [{"object": "embedding", "index", "embedding": [f32]}],
"usage": {"prompt_tokens", "total_tokens"}}`, read by `index` (servers may reorder).
The server pools as it was started (vLLM `--override-pooler-config`), so the answer's
pooling is unknown here; over-long inputs are the server's to refuse (3030 via
`http_errors`). Errors are OpenAI's `{"error": {"message", "type"}}` or vLLM's flat form.
"""

from __future__ import annotations

import httpx

from bindings.ai.engines import http_errors
from bindings.ai.engines.http_backend import post_json
from bindings.ai.tasks.text_embeddings import Embeddings


async def embed(client: httpx.AsyncClient, url: str, model: str, texts: list[str], *,
                backend: str, hint: str) -> Embeddings:
    """The vectors of `texts` from the server at `url` (its base, without `/v1`)."""
    endpoint = f"{url}/v1/embeddings"
    payload = {"model": model, "input": texts, "encoding_format": "float"}
    data, _ = await post_json(client, endpoint, payload, backend=backend, hint=hint)
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) != len(texts):
        raise http_errors.malformed(endpoint, f"expected {len(texts)} embeddings, got "
                                              f"{str(data)[:200]}")
    try:
        ordered = sorted(items, key=lambda item: int(item["index"]))
        vectors = [list(item["embedding"]) for item in ordered]
    except (KeyError, TypeError, ValueError):
        raise http_errors.malformed(endpoint, f"not OpenAI embeddings: {str(data)[:200]}"
                                    ) from None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    tokens = usage.get("prompt_tokens", 0)
    return Embeddings(vectors, tokens if isinstance(tokens, int) else 0)
