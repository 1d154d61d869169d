"""Text Embeddings: texts in, `{"shape": [n, dim], "data": [[...], ...]}` out.

The input forms of the catalogue records (each validated by its own schema first):

| record                        | inputs                         | output                         |
|-------------------------------|--------------------------------|--------------------------------|
| bge-small/base/large-en-v1.5, | `text`: str or list of str     | `{"shape", "data"}`            |
| embeddinggemma, plamo         |                                |                                |
| omni-bge-base-en-v1.5         | `text`, `pooling` mean/cls     | `{"shape", "data", "pooling"}` |
| bge-m3                        | `contexts: [{text}]`           | `{"response": [[...], ...]}`   |
|                               | `query` + `contexts`           | `{"response": [{id, score}]}`, |
|                               |                                | best first (cosine similarity) |
| qwen3-embedding               | `queries`, `documents`/`text`, | `{"shape", "data"}`: queries   |
|                               | `instruction`                  | first, then documents          |

Qwen3-Embedding queries carry their instruction as its model card says
(`Instruct: {instruction}\\nQuery:{query}`); documents go as they are. The async batch
form (`requests`, for `queueRequest`) is a 5006: edge runs no queue.

Engines answer an `EmbeddingRequest` with `Embeddings`. Vectors of a stand-in (the
`encoder` engine's bundled MiniLM, the scripted engines) are fitted to the catalogue
model's dimension (`fit_dimension`); a real server's vectors are passed on as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from bindings.ai.engines.base import TaskRequest
from bindings.ai.errors import AiError, bad_input
from bindings.ai.tasks.base import TEXT_FLAG, CliFlag, Task
from emulator.sdk.attrdict import AttrDict

TEXT_EMBEDDINGS = "text-embeddings"
#: dimensions of models without serving data (no server edge routes to runs them:
#: PLaMo-Embedding-1B is custom code, `trust_remote_code`; its model card says 2048).
DIMENSIONS: dict[str, int] = {"@cf/pfnet/plamo-embedding-1b": 2048}
#: Qwen3-Embedding's query format (its model card's `get_detailed_instruct`).
QWEN3_QUERY = "Instruct: {instruction}\nQuery:{query}"


@dataclass
class EmbeddingRequest(TaskRequest):
    """Texts to embed, in order. `pooling` None: the model's own; `max_tokens` cuts each
    text (the model's input limit). `form` is how the task shapes the answer."""

    texts: list[str] = field(default_factory=list)
    pooling: str | None = None
    max_tokens: int | None = None
    form: str = "text"  # "text", "contexts" or "query" (bge-m3: texts[0] is the query)


@dataclass(frozen=True)
class Embeddings:
    """An engine's answer: one vector per text, the tokens read, the pooling used, and
    whether the vectors are a stand-in's (then fitted to the catalogue dimension)."""

    vectors: Any  # numpy array (n x dim) or list of lists
    tokens: int = 0
    pooling: str | None = None
    stand_in: bool = False


class EmbeddingOutput(AttrDict):
    """The Cloudflare-shaped result; `tokens` (not part of the JSON) feeds OpenAI's usage."""

    __slots__ = ("tokens",)


def dimension(entry: Any) -> int | None:
    """The catalogue model's vector size: its serving data, its `output_dimensions`
    property, else `DIMENSIONS`; None when unknown (a user's own model)."""
    serving = getattr(entry, "serving", None)
    if serving is not None and getattr(serving, "dimensions", None):
        return int(serving.dimensions)
    value = entry.property("output_dimensions") if hasattr(entry, "property") else None
    if value and str(value).isdigit():
        return int(value)
    return DIMENSIONS.get(entry.name)


def fit_dimension(vectors: np.ndarray, target: int | None) -> np.ndarray:
    """A stand-in's vectors at the catalogue dimension.

    Wider: a fixed linear map with orthonormal columns (seeded, the same on every
    machine), so dot products, norms and cosine similarities are exactly the stand-in's.
    Narrower: the first `target` components, renormalized (as Matryoshka models do).
    """
    if target is None or vectors.shape[1] == target:
        return vectors
    if vectors.shape[1] > target:
        return truncate_dimension(vectors, target)
    return vectors @ _projection(vectors.shape[1], target)


def truncate_dimension(vectors: np.ndarray, target: int) -> np.ndarray:
    """The first `target` components of each vector, renormalized to unit length."""
    cut = np.array(vectors[:, :target], dtype=np.float32)
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    return cut / np.maximum(norms, 1e-12)


@lru_cache(maxsize=16)
def _projection(source: int, target: int) -> np.ndarray:
    rng = np.random.default_rng(source * 100_003 + target)
    q, _ = np.linalg.qr(rng.standard_normal((target, source)))
    return np.ascontiguousarray(q.T, dtype=np.float32)  # source x target, orthonormal rows


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class TextEmbeddings(Task):
    name: ClassVar[str] = "Text Embeddings"
    capability: ClassVar[str] = TEXT_EMBEDDINGS
    default_engine: ClassVar[str | None] = "encoder"
    cli_flags: ClassVar[tuple[CliFlag, ...]] = (TEXT_FLAG,)  # a batch: --input-json

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> EmbeddingRequest:
        if "requests" in inputs:
            raise bad_input(
                "Error: 'requests' is the async batch form (options queueRequest: true); "
                "edge runs no queue: send 'text' (a string or a list) instead")
        form, texts = "text", _as_list(inputs.get("text"))
        if entry.accepts("contexts"):
            contexts = inputs.get("contexts") or []
            texts = []
            for index, context in enumerate(contexts):
                if not isinstance(context, Mapping) or not isinstance(context.get("text"), str):
                    raise bad_input(f"Error: contexts[{index}] needs a 'text' string")
                texts.append(context["text"])
            form = "contexts"
            if inputs.get("query") is not None:
                form, texts = "query", [inputs["query"], *texts]
        elif entry.accepts("queries"):
            if "documents" in inputs and "text" in inputs:
                raise bad_input("Error: 'text' is an alias of 'documents': send one of them")
            instruction = inputs.get("instruction") or entry.input_default("instruction") or ""
            queries = [QWEN3_QUERY.format(instruction=instruction, query=q)
                       for q in _as_list(inputs.get("queries"))]
            texts = queries + _as_list(inputs.get("documents", inputs.get("text")))
            if not texts:
                raise bad_input("Error: nothing to embed: send 'queries', 'documents' or 'text'")
        limit = entry.property("max_input_tokens") if hasattr(entry, "property") else None
        serving = getattr(entry, "serving", None)
        max_tokens = int(limit) if limit and str(limit).isdigit() else (
            getattr(serving, "context_length", None))
        return EmbeddingRequest(model=entry.name, capability=self.capability, inputs=inputs,
                                texts=texts, pooling=inputs.get("pooling"),
                                max_tokens=max_tokens, form=form)

    async def run(self, entry: Any, engine: Any, request: EmbeddingRequest) -> Any:
        if not request.texts:
            return self.respond(entry, request, Embeddings(np.zeros((0, dimension(entry) or 0))))
        return self.respond(entry, request, await engine.infer(request))

    def respond(self, entry: Any, request: EmbeddingRequest, output: Any) -> EmbeddingOutput:
        """The engine's answer as Cloudflare returns it for `entry` (the module table).
        A mapping (a test script's exact output) is returned as it is."""
        if isinstance(output, Mapping):
            return EmbeddingOutput(output)
        if not isinstance(output, Embeddings):
            raise AiError(3043, f"{getattr(request, 'model', entry.name)}: the engine "
                                f"answered {type(output).__name__}, not embeddings")
        vectors = np.asarray(output.vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(request.texts):
            raise AiError(3043, f"{entry.name}: the engine returned {vectors.shape[0]} "
                                f"vectors for {len(request.texts)} texts")
        if output.stand_in:
            vectors = fit_dimension(vectors, dimension(entry))
        if request.form == "query":
            query, contexts = vectors[0], vectors[1:]
            scores = contexts @ query / np.maximum(
                np.linalg.norm(contexts, axis=1) * np.linalg.norm(query), 1e-12)
            ranked = sorted(enumerate(scores.tolist()), key=lambda pair: -pair[1])
            result = {"response": [{"id": i, "score": s} for i, s in ranked]}
        elif request.form == "contexts":
            result = {"response": vectors.tolist()}
        else:
            result = {"shape": list(vectors.shape), "data": vectors.tolist()}
            if entry.accepts("pooling"):
                result["pooling"] = request.pooling or output.pooling or \
                    entry.input_default("pooling") or "mean"
        shaped = EmbeddingOutput(result)
        object.__setattr__(shaped, "tokens", output.tokens)  # a slot, not a key
        return shaped

    def sample(self, request: Any, text: str | None) -> Embeddings:
        """Deterministic unit vectors, one per text (the same text, the same vector)."""
        vectors = np.array([_hashed_vector(t) for t in request.texts], dtype=np.float32)
        tokens = sum(len(t.split()) for t in request.texts)
        return Embeddings(vectors.reshape(len(request.texts), _SAMPLE_DIM), tokens,
                          request.pooling, stand_in=True)

    def example_inputs(self, entry: Any) -> dict[str, Any]:
        if entry.accepts("contexts"):
            return {"query": "Where do cats sleep?",
                    "contexts": [{"text": "Cats sleep most of the day, often in the sun."},
                                 {"text": "The stock market closed higher today."}]}
        if entry.accepts("queries"):
            return {"queries": "Where do cats sleep?",
                    "documents": ["Cats sleep most of the day, often in the sun.",
                                  "The stock market closed higher today."]}
        return {"text": ["This is a story about an orange cloud",
                         "This is a story about a llama", "This is a story about a hugging emoji"]}

    def cli_inputs(self, values: Mapping[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        return {**values, **extra}


_SAMPLE_DIM = 32


def _hashed_vector(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(_SAMPLE_DIM)
    return vector / np.linalg.norm(vector)


TASK = TextEmbeddings()
