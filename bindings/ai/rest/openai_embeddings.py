"""`POST /client/v4/accounts/{account_id}/ai/v1/embeddings`: OpenAI's embeddings API over
the catalogue's Text Embeddings models, as Cloudflare documents it
(https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/), so
`openai`'s `client.embeddings.create(model="@cf/baai/bge-base-en-v1.5", input=[...])`
and the LangChain / LlamaIndex clients built on it work.

| OpenAI                 | here                                                          |
|------------------------|---------------------------------------------------------------|
| `model`                | a Text Embeddings catalogue model (another task: 5006)        |
| `input` str or [str]   | the model's text input (`text`; bge-m3 `contexts`), validated |
|                        | by its schema like `env.AI.run` (empty strings, > 100 texts)  |
| `input` token arrays   | 5006: edge's models take text                                 |
| `encoding_format`      | `float` (the default) or `base64` (little-endian float32, what|
|                        | the `openai` SDK asks for and decodes)                        |
| `dimensions`           | the first N components, renormalized (1 <= N <= the model's)  |
| `user`                 | accepted, unused                                              |

The answer is `{"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
"model", "usage": {"prompt_tokens", "total_tokens"}}`, tokens as the engine counted them.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bindings.ai.rest.envelope import bad_input, read_json_object, required_model
from bindings.ai.tasks.text_embeddings import TextEmbeddings, truncate_dimension


def parse_input(value: Any) -> list[str] | str:
    """OpenAI's `input`: a string or a list of strings (token arrays are refused)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    if isinstance(value, list) and value and all(
        isinstance(item, int) or (isinstance(item, list) and all(isinstance(i, int) for i in item))
        for item in value
    ):
        raise bad_input("'input' as token ids is not supported: edge's models take text")
    raise bad_input("'input' is required: a string or an array of strings")


def catalogue_inputs(entry: Any, texts: list[str] | str) -> dict[str, Any]:
    """The model's own inputs for OpenAI's texts (bge-m3 takes them as `contexts`)."""
    if entry.accepts("contexts"):
        return {"contexts": [{"text": t} for t in ([texts] if isinstance(texts, str) else texts)]}
    return {"text": texts}


async def embeddings(request: Request) -> Response:
    state = request.app.state
    body = await read_json_object(request, state.max_body_bytes)
    model = required_model(body, "@cf/baai/bge-base-en-v1.5")
    texts = parse_input(body.get("input"))
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise bad_input(f"'encoding_format' must be 'float' or 'base64', not {encoding!r}")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(
            dimensions, bool) or dimensions < 1):
        raise bad_input(f"'dimensions' must be a positive integer, not {dimensions!r}")
    entry = state.service.catalogue.get(model)
    if entry.task_name != TextEmbeddings.name:
        raise bad_input(f"{model} is a {entry.task_name} model; /v1/embeddings takes Text "
                   "Embeddings models, e.g. @cf/baai/bge-base-en-v1.5")
    result = await state.service.run(model, catalogue_inputs(entry, texts))
    vectors = np.asarray(result["response"] if "response" in result else result["data"],
                         dtype=np.float32)
    if dimensions is not None:
        if vectors.size and dimensions > vectors.shape[1]:
            raise bad_input(f"'dimensions' is {dimensions}, but {model} gives "
                       f"{vectors.shape[1]}-dimensional vectors")
        vectors = truncate_dimension(vectors, dimensions)
    tokens = int(getattr(result, "tokens", 0) or 0)
    data = [{"object": "embedding", "index": i, "embedding": _encode(v, encoding)}
            for i, v in enumerate(vectors)]
    return JSONResponse({"object": "list", "data": data, "model": model,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def _encode(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()
