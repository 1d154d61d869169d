"""edge's serving data: which weights stand behind a catalogue name, and how to serve them.

Cloudflare publishes what a model accepts, not what it runs. What edge (and `edge ai
serve`) needs to run the same model on your own engines lives here, apart from
Cloudflare's record: the Hugging Face repo per weights format, the quantization and
dtype, the context length, a GPU memory estimate, the engines that can serve it, where
its own chat template lives, and the hand-written prompt format edge falls back on.

Two places give it, both read by `parse_serving`:

- a Markdown entry's fenced `yaml edge-serving` block (the seeds, users' own entries);
- a family file `families/<family>.yaml`, whose `models:` table is keyed by catalogue
  name: the sidecar of the JSON records, which are never edited.

A family file holds what its models share (prompt format, context length, dtype,
engines, template file, and per size the repo of each weights format); a model's own
fields override it. `entry.serving` is a frozen `ServingInfo`; every problem is a
`CatalogueError` naming the file and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bindings.ai.catalogue.errors import CatalogueError
from bindings.ai.chat_templates import FORMAT_NAMES
from bindings.ai.family_formats import FAMILY_FORMATS

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FAMILIES_DIR = Path(__file__).parent / "families"

#: what `prompt_format` may name: the hand-written formats, or "gguf" (the weights' own).
PROMPT_FORMATS = frozenset(FORMAT_NAMES) | frozenset(FAMILY_FORMATS) | {"gguf"}

#: engines a model can name in `engines` (keys of `bindings.ai.engines.ENGINES`, plus
#: Hugging Face text-embeddings-inference for embedding models).
ENGINE_NAMES = frozenset({"vllm", "tgi", "tei", "llamacpp"})

DTYPES = frozenset({"float16", "bfloat16", "float32"})

#: bits per weight of each quantization, scales and zero points included (GGUF: llama.cpp's
#: `llama-quantize` table; AWQ/GPTQ: 4-bit with group-128 scales; MXFP4: 4-bit + e8m0 per 32).
QUANTIZATION_BITS: dict[str, float] = {
    "fp32": 32, "bf16": 16, "fp16": 16, "fp8": 8, "int8": 8,
    "awq": 4.25, "gptq": 4.25, "int4": 4.25, "mxfp4": 4.25,
    "Q8_0": 8.5, "Q6_K": 6.56, "Q5_K_M": 5.69, "Q5_K_S": 5.54, "Q5_0": 5.5,
    "Q4_K_M": 4.85, "Q4_K_S": 4.58, "Q4_0": 4.55, "Q3_K_L": 4.27, "Q3_K_M": 3.91,
    "Q3_K_S": 3.5, "Q2_K": 3.35,
}  # fmt: skip

#: the share added to the weights for the CUDA context, activations and a modest KV cache.
MEMORY_OVERHEAD = 1.2

#: the fields a serving block (or a family's `models:` row) may set.
SERVING_FIELDS = (
    "family", "size_b", "format", "quantization", "dtype", "prompt_format", "chat_template",
    "context_length", "hf_repos", "gguf", "engines", "gpu_memory_gib", "dimensions",
    "engine_args",
)
_FAMILY_KEYS = frozenset({
    "family", "prompt_format", "chat_template", "context_length", "dtype", "engines",
    "default_gguf_quantization", "sizes", "models", "dimensions", "engine_args",
})  # fmt: skip


@dataclass(frozen=True)
class HubFile:
    """A file of a Hugging Face repo (a GGUF for llama.cpp, a tokenizer config)."""

    repo: str
    file: str


@dataclass(frozen=True)
class ServingInfo:
    """edge's serving data for one model; every field may be None (user entries)."""

    family: str | None = None
    #: parameters in billions (all of them for a mixture of experts: all are loaded).
    size_b: float | None = None
    #: the weights format served under this name: pytorch, awq, gptq, fp8, ggufv2.
    format: str | None = None
    #: the precision of those weights: a key of `QUANTIZATION_BITS`.
    quantization: str | None = None
    #: the compute dtype the engine runs them in.
    dtype: str | None = None
    #: the hand-written format edge renders when the served weights' own template is not
    #: available (or "gguf": only the weights' own).
    prompt_format: str | None = None
    #: where the weights' own chat template lives; None when they have none (or, for the
    #: seeds, when Meta's exact format is pinned).
    chat_template: HubFile | None = None
    context_length: int | None = None
    hf_repos: dict[str, str] = field(default_factory=dict)
    gguf: HubFile | None = None
    #: engines that can serve it; `llamacpp` only when a GGUF is known.
    engines: tuple[str, ...] = ()
    #: given in the data, else the estimate of `estimate_gpu_memory`.
    gpu_memory_gib: float | None = None
    #: the output vector size (embedding models).
    dimensions: int | None = None
    #: flags a server needs for these weights beyond what the fields above give, per
    #: engine (`edge ai serve` appends them), e.g. Mistral's own format on vLLM.
    engine_args: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def hf_repo(self) -> str | None:
        """The repo of the format Cloudflare serves under this name."""
        return self.hf_repos.get(self.format) if self.format else None

    @property
    def bits(self) -> float | None:
        return QUANTIZATION_BITS.get(self.quantization) if self.quantization else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, hub files as `{repo, file}`, plus `hf_repo`."""
        out = {name: getattr(self, name) for name in SERVING_FIELDS}
        for name in ("chat_template", "gguf"):
            hub = out[name]
            out[name] = {"repo": hub.repo, "file": hub.file} if hub else None
        out["hf_repos"] = dict(self.hf_repos)
        out["engines"] = list(self.engines)
        out["engine_args"] = {name: list(args) for name, args in self.engine_args.items()}
        out["hf_repo"] = self.hf_repo
        return out


def estimate_gpu_memory(size_b: float | None, quantization: str | None) -> float | None:
    """GiB to serve the weights: parameters x bits per weight / 8, plus 20% (CUDA context,
    activations, a modest KV cache), rounded up to a tenth. Long contexts at high
    concurrency need more KV cache; vLLM takes `--gpu-memory-utilization` of the card."""
    bits = QUANTIZATION_BITS.get(quantization or "")
    if size_b is None or bits is None:
        return None
    weights = size_b * 1e9 * bits / 8 / 2**30
    return math.ceil(weights * MEMORY_OVERHEAD * 10) / 10


def parse_serving(path: Path, data: Any, where: str = "edge-serving",
                  family: str | None = None) -> ServingInfo:
    """A `ServingInfo` from a serving mapping; `family` is implied by a family's `models:`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CatalogueError(path, where, "must be a YAML mapping")
    unknown = sorted(set(data) - set(SERVING_FIELDS))
    if unknown:
        raise CatalogueError(path, f"{where}.{unknown[0]}",
                             f"is not a known field (known: {', '.join(SERVING_FIELDS)})")
    fields = _Fields(path, where, data)
    family = fields.text("family") or family
    size = fields.number("size_b")
    defaults = _family_defaults(path, where, family, size) if family else {}
    fields.data = {**defaults, **data}

    prompt_format = fields.choice("prompt_format", PROMPT_FORMATS)
    quantization = fields.choice("quantization", QUANTIZATION_BITS)
    given_memory = fields.number("gpu_memory_gib")
    repos = fields.data.get("hf_repos") or {}
    if not isinstance(repos, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in repos.items()
    ):
        raise CatalogueError(path, f"{where}.hf_repos", "must map format names to repo ids")
    engines = fields.data.get("engines") or []
    if not isinstance(engines, list) or not all(e in ENGINE_NAMES for e in engines):
        raise CatalogueError(path, f"{where}.engines",
                             f"must be a list of {', '.join(sorted(ENGINE_NAMES))}")
    gguf = fields.hub_file("gguf")
    if gguf is None:  # llama.cpp needs a GGUF: listed only where one is known
        engines = [e for e in engines if e != "llamacpp"]
    return ServingInfo(
        family=family,
        size_b=size,
        format=fields.text("format"),
        quantization=quantization,
        dtype=fields.choice("dtype", DTYPES),
        prompt_format=prompt_format,
        chat_template=fields.hub_file("chat_template"),
        context_length=fields.positive_int("context_length"),
        hf_repos=dict(repos),
        gguf=gguf,
        engines=tuple(engines),
        gpu_memory_gib=given_memory if given_memory is not None
        else estimate_gpu_memory(size, quantization),
        dimensions=fields.positive_int("dimensions"),
        engine_args=fields.engine_args("engine_args"),
    )


class _Fields:
    """Typed reads of one serving mapping, each failure naming the field."""

    def __init__(self, path: Path, where: str, data: dict[str, Any]) -> None:
        self.path, self.where, self.data = path, where, data

    def _fail(self, key: str, problem: str) -> CatalogueError:
        return CatalogueError(self.path, f"{self.where}.{key}", problem)

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise self._fail(key, f"must be a string, not {value!r}")
        return value

    def choice(self, key: str, allowed: Any) -> str | None:
        value = self.text(key)
        if value is not None and value not in allowed:
            raise self._fail(key, f"{value!r} is not one of {', '.join(sorted(allowed))}")
        return value

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or value <= 0):
            raise self._fail(key, f"must be a positive number, not {value!r}")
        return value

    def positive_int(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value <= 0):
            raise self._fail(key, f"must be a positive integer, not {value!r}")
        return value

    def engine_args(self, key: str) -> dict[str, tuple[str, ...]]:
        value = self.data.get(key) or {}
        if not isinstance(value, dict) or not all(
            name in ENGINE_NAMES and isinstance(args, list)
            and all(isinstance(a, str) for a in args)
            for name, args in value.items()
        ):
            raise self._fail(key, "must map engine names "
                             f"({', '.join(sorted(ENGINE_NAMES))}) to lists of flags")
        return {name: tuple(args) for name, args in value.items()}

    def hub_file(self, key: str) -> HubFile | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(
            isinstance(value.get(k), str) for k in ("repo", "file")
        ):
            raise self._fail(key, "must be a mapping with string 'repo' and 'file'")
        return HubFile(repo=value["repo"], file=value["file"])


# --- families ------------------------------------------------------------------------------


@cache
def load_family(name: str) -> dict[str, Any] | None:
    """A shipped model family (`families/<name>.yaml`), or None."""
    file = FAMILIES_DIR / f"{name}.yaml"
    if not file.is_file():
        return None
    data = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
    if not isinstance(data, dict) or data.get("family") != name:
        raise CatalogueError(file, "family", f"must be a mapping whose 'family' is {name!r}")
    unknown = sorted(set(data) - _FAMILY_KEYS)
    if unknown:
        raise CatalogueError(file, unknown[0], "is not a known family key "
                             f"(known: {', '.join(sorted(_FAMILY_KEYS))})")
    return data


def family_names() -> list[str]:
    return sorted(p.stem for p in FAMILIES_DIR.glob("*.yaml"))


@cache
def family_models() -> dict[str, tuple[str, dict[str, Any]]]:
    """Catalogue name -> (family, its `models:` row), over every shipped family."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for name in family_names():
        data = load_family(name) or {}
        file = FAMILIES_DIR / f"{name}.yaml"
        models = data.get("models") or {}
        if not isinstance(models, dict):
            raise CatalogueError(file, "models", "must map catalogue names to serving fields")
        for model, row in models.items():
            if model in out:
                raise CatalogueError(file, f"models.{model}",
                                     f"is also served by family {out[model][0]}")
            out[model] = (name, row or {})
    return out


@cache
def shipped_serving(model: str) -> ServingInfo | None:
    """The serving data the shipped families give `model`, or None."""
    found = family_models().get(model)
    if found is None:
        return None
    family, row = found
    return parse_serving(FAMILIES_DIR / f"{family}.yaml", row, f"models.{model}", family)


def _family_defaults(path: Path, where: str, family: str, size: float | None) -> dict[str, Any]:
    data = load_family(family)
    if data is None:
        known = ", ".join(family_names())
        raise CatalogueError(path, f"{where}.family",
                             f"{family!r} is not a known family (known: {known})")
    shared = ("prompt_format", "context_length", "dtype", "engines", "dimensions",
              "engine_args")
    out: dict[str, Any] = {k: data[k] for k in shared if k in data}
    if size is None or not data.get("sizes"):  # without sizes, rows name their own repos
        return out
    spec = data["sizes"].get(size)
    if spec is None:
        sizes = ", ".join(str(s) for s in data.get("sizes") or {})
        raise CatalogueError(path, f"{where}.size_b",
                             f"{size!r} is not a size of {family} (sizes: {sizes})")
    out["hf_repos"] = {fmt: item["repo"] for fmt, item in spec.items() if fmt != "ggmlv3"}
    template_file = data.get("chat_template")
    if template_file and "pytorch" in spec:
        out["chat_template"] = {"repo": spec["pytorch"]["repo"], "file": template_file}
    gguf = spec.get("ggufv2")
    if gguf and "file" in gguf:
        quant = data.get("default_gguf_quantization", "Q4_K_M")
        out["gguf"] = {"repo": gguf["repo"], "file": gguf["file"].format(quantization=quant)}
    return out
