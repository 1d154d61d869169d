"""The inference servers `edge ai serve` launches: pinned images, ports, health, CLI flags.

Each `Server` knows its official image (pinned: bump `IMAGES`), the port it listens on
inside its container, where it keeps the Hugging Face cache, its native command, and
how to turn a `ServeSpec` into its own command-line flags. Written from the servers'
documentation (read, not copied):

- vLLM: `vllm serve` engine arguments (docs.vllm.ai "Engine Arguments": `--quantization`,
  `--dtype`, `--max-model-len`, `--tensor-parallel-size`, `--gpu-memory-utilization`,
  `--host`, `--port`; `VLLM_API_KEY` for `--api-key`) and "Deploying with Docker"
  (`vllm/vllm-openai:<tag> --model REPO`, `--ipc=host`, the cache mounted at
  `/root/.cache/huggingface`, `HF_TOKEN`).
- TGI: `text-generation-launcher` arguments (`--model-id`, `--quantize awq|gptq|fp8|eetq`,
  `--dtype float16|bfloat16` never with `--quantize`, `--max-input-tokens`,
  `--max-total-tokens`, `--num-shard`, `--hostname`, `--port`; `API_KEY`); its image
  listens on `PORT=80` with `HUGGINGFACE_HUB_CACHE=/data` (`--shm-size 1g`).
- TEI: `text-embeddings-router` arguments (`--model-id`, `--dtype float16|float32`,
  `--hostname`, `--port`; `API_KEY`); images per GPU architecture, `PORT=80`, `/data`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bindings.ai.serve.spec import ServeError, ServeSpec

#: the official images, pinned; bump a tag here (and in docs/engines.md) to upgrade.
IMAGES: dict[str, str] = {
    "vllm": "docker.io/vllm/vllm-openai:v0.34.0",
    "tgi": "ghcr.io/huggingface/text-generation-inference:3.3.5",
    "tei": "ghcr.io/huggingface/text-embeddings-inference:1.8",
}

#: TEI builds one image per GPU architecture: compute capability -> tag prefix.
TEI_ARCH_PREFIX: dict[str, str] = {
    "7.5": "turing-", "8.0": "", "8.6": "86-", "8.9": "89-", "9.0": "hopper-",
}

#: catalogue quantization -> each server's own flag value (absent: unquantized weights).
QUANTIZE: dict[str, dict[str, str]] = {
    "vllm": {"awq": "awq", "gptq": "gptq", "fp8": "fp8"},
    "tgi": {"awq": "awq", "gptq": "gptq", "fp8": "fp8", "int8": "eetq"},
}

_DTYPES = {"fp16": "float16", "float16": "float16", "half": "float16",
           "bf16": "bfloat16", "bfloat16": "bfloat16", "fp32": "float32", "float32": "float32"}


@dataclass(frozen=True)
class Launch:
    """How one replica is asked to run: the knobs the CLI exposes."""

    tensor_parallel: int = 1
    gpu_memory_utilization: float | None = None
    extra_args: tuple[str, ...] = ()
    host: str = "127.0.0.1"   # native servers only: containers listen inside their own net
    port: int | None = None   # native servers only


@dataclass(frozen=True)
class Server:
    """One kind of inference server."""

    name: str                     # also the route's engine name
    container_port: int
    default_port: int             # first host port tried
    cache_target: str             # where the container expects the Hugging Face cache
    cache_is_hub_dir: bool        # True: mount `<HF_HOME>/hub`; False: `<HF_HOME>`
    native: tuple[str, ...]       # the command that runs it without a container
    api_key_env: str              # the variable the server reads its API key from
    shm: str | None = None        # `--shm-size` (vLLM uses `--ipc=host` instead)
    health_path: str = "/health"
    build: Callable[[ServeSpec, Launch, bool], list[str]] | None = None

    def image(self, compute_cap: str | None = None) -> str:
        """The pinned image; TEI's tag also depends on the GPU architecture."""
        image = IMAGES[self.name]
        if self.name == "tei" and compute_cap in TEI_ARCH_PREFIX:
            repo, _, tag = image.rpartition(":")
            image = f"{repo}:{TEI_ARCH_PREFIX[compute_cap]}{tag}"
        return image

    def args(self, spec: ServeSpec, launch: Launch, *, native: bool) -> list[str]:
        """The server's own flags (after the image, or after `native`)."""
        assert self.build is not None
        return [*self.build(spec, launch, native), *spec.extra_args.get(self.name, ()),
                *launch.extra_args]


def _dtype(spec: ServeSpec) -> str | None:
    value = spec.dtype or (spec.quantization if spec.quantization in _DTYPES else None)
    return _DTYPES.get(value.lower()) if value else None


def _vllm(spec: ServeSpec, launch: Launch, native: bool) -> list[str]:
    args = [spec.hf_repo] if native else ["--model", spec.hf_repo]
    quantize = QUANTIZE["vllm"].get(spec.quantization or "")
    if quantize:
        args += ["--quantization", quantize]
    dtype = _dtype(spec)
    if dtype:
        args += ["--dtype", dtype]
    if spec.context_length:
        args += ["--max-model-len", str(spec.context_length)]
    if launch.tensor_parallel > 1:
        args += ["--tensor-parallel-size", str(launch.tensor_parallel)]
    if launch.gpu_memory_utilization is not None:
        args += ["--gpu-memory-utilization", str(launch.gpu_memory_utilization)]
    if native:
        args += ["--host", launch.host, "--port", str(launch.port)]
    return args


def _tgi(spec: ServeSpec, launch: Launch, native: bool) -> list[str]:
    args = ["--model-id", spec.hf_repo]
    quantize = QUANTIZE["tgi"].get(spec.quantization or "")
    if quantize:
        args += ["--quantize", quantize]
    elif _dtype(spec) in ("float16", "bfloat16"):  # TGI refuses --dtype with --quantize
        args += ["--dtype", str(_dtype(spec))]
    if spec.context_length:
        args += ["--max-input-tokens", str(spec.context_length - 1),
                 "--max-total-tokens", str(spec.context_length)]
    args += ["--num-shard", str(launch.tensor_parallel)]
    if launch.gpu_memory_utilization is not None:
        args += ["--cuda-memory-fraction", str(launch.gpu_memory_utilization)]
    if native:
        args += ["--hostname", launch.host, "--port", str(launch.port)]
    return args


def _tei(spec: ServeSpec, launch: Launch, native: bool) -> list[str]:
    if launch.tensor_parallel > 1:
        raise ServeError("TEI has no tensor parallelism: serve an embeddings model with "
                         "--replicas N instead of --tensor-parallel")
    args = ["--model-id", spec.hf_repo]
    if _dtype(spec) in ("float16", "float32"):
        args += ["--dtype", str(_dtype(spec))]
    if native:
        args += ["--hostname", launch.host, "--port", str(launch.port)]
    return args


SERVERS: dict[str, Server] = {
    "vllm": Server("vllm", 8000, 8000, "/root/.cache/huggingface", False,
                   ("vllm", "serve"), "VLLM_API_KEY", build=_vllm),
    "tgi": Server("tgi", 80, 8080, "/data", True, ("text-generation-launcher",), "API_KEY",
                  shm="1g", build=_tgi),
    "tei": Server("tei", 80, 8090, "/data", True, ("text-embeddings-router",), "API_KEY",
                  build=_tei),
}


def get_server(name: str) -> Server:
    try:
        return SERVERS[name]
    except KeyError:
        raise ServeError(f"unknown server {name!r} (known: {', '.join(SERVERS)})") from None
