"""What a fake "container" (or a fake native `vllm` / `text-generation-launcher` /
`text-embeddings-router`) runs: the server's start-up log, then its protocol for real.

The engine comes from the image name (`FAKE_IMAGE`, set by fake_docker.py) or from
`FAKE_ENGINE` (the native wrappers); the port from `FAKE_PORT` (the published host
port) or the server's own `--port` flag; the model from `--model` / the positional
repo (vLLM) or `--model-id` (TGI, TEI). The log lines are the engines' own (see
`bindings.ai.serve.progress`), so the progress display is exercised as on a GPU host.
It then serves the fake vLLM, TGI or TEI server (tests/fakes) on
127.0.0.1, and writes its exit code to `FAKE_EXIT_FILE` when it ends.

Knobs: `FAKE_CONTAINER_EXIT=N` (fail while loading: CUDA out of memory, exit N),
`FAKE_CONTAINER_DELAY=S` (seconds spent "loading"), `FAKE_CONTAINER_NEVER_READY=1`
(keep loading forever).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


STAMP = "INFO 01-01 00:00:00"


def engine_of(image: str) -> str:
    if "vllm" in image:
        return "vllm"
    if "text-embeddings" in image:
        return "tei"
    return "tgi"


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) \
        else None


def say(line: str) -> None:
    print(line, flush=True)


def startup_log(engine: str, model: str) -> list[str]:
    if engine == "vllm":
        return [
            f"{STAMP} [api_server.py:1] vLLM API server version 0.34.0",
            f"{STAMP} [weight_utils.py:1] Using model weights format ['*.safetensors']",
            "model-00001-of-00002.safetensors:  45%|████▌     | 4.5G/10.0G [00:10<00:12]",
            "model-00001-of-00002.safetensors: 100%|██████████| 10.0G/10.0G [00:22<00:00]",
            f"{STAMP} [gpu_model_runner.py:1] Starting to load model {model}...",
            "Loading safetensors checkpoint shards:  50% Completed | 1/2",
            "Loading safetensors checkpoint shards: 100% Completed | 2/2",
            f"{STAMP} [default_loader.py:1] Loading weights took 3.59 seconds",
            f"{STAMP} [gpu_worker.py:1] Memory profiling takes 1.2 seconds",
            "Capturing CUDA graphs (decode, FULL): 100%|██████████| 35/35",
        ]
    if engine == "tgi":
        return [
            f"2025-01-01T00:00:00.000000Z  INFO text_generation_launcher: Args {{ model_id: "
            f'"{model}" }}',
            "2025-01-01T00:00:00.000000Z  INFO download: text_generation_launcher: Starting "
            "check and download process for " + model,
            "2025-01-01T00:00:01.000000Z  INFO download: text_generation_launcher: Download "
            "file: model-00001-of-00002.safetensors",
            "2025-01-01T00:00:02.000000Z  INFO download: text_generation_launcher: "
            f"Successfully downloaded weights for {model}",
            "2025-01-01T00:00:02.000000Z  INFO shard-manager: text_generation_launcher: "
            "Starting shard rank=0",
            "2025-01-01T00:00:03.000000Z  INFO shard-manager: text_generation_launcher: "
            "Shard ready in 1.2s rank=0",
            "2025-01-01T00:00:03.000000Z  INFO text_generation_router::server: Warming up "
            "model",
        ]
    return [
        "2025-01-01T00:00:00.000000Z  INFO text_embeddings_router: Starting download",
        "2025-01-01T00:00:00.000000Z  INFO download_artifacts: text_embeddings_core::download: "
        "Downloading `model.safetensors`",
        "2025-01-01T00:00:01.000000Z  INFO download_artifacts: text_embeddings_core::download: "
        "Model artifacts downloaded in 1.2s",
        "2025-01-01T00:00:01.000000Z  INFO text_embeddings_router: Starting model backend",
        "2025-01-01T00:00:01.000000Z  INFO text_embeddings_router: Warming up model",
    ]


def ready_line(engine: str, port: int) -> str:
    if engine == "vllm":
        return f"{STAMP} [api_server.py:1] Starting vLLM API server 0 on http://0.0.0.0:{port}"
    if engine == "tgi":
        return "2025-01-01T00:00:04.000000Z  INFO text_generation_router::server: Connected"
    return "2025-01-01T00:00:02.000000Z  INFO text_embeddings_router: Ready"


def main() -> int:
    import uvicorn

    from tests.fakes.fake_tei import FakeTei
    from tests.fakes.fake_tgi import FakeTgi
    from tests.fakes.fake_vllm import FakeVllm

    args = json.loads(os.environ.get("FAKE_ARGS") or "null") or sys.argv[1:]
    engine = os.environ.get("FAKE_ENGINE") or engine_of(os.environ.get("FAKE_IMAGE", ""))
    port = int(os.environ.get("FAKE_PORT") or flag(args, "--port") or 8000)
    if engine == "vllm":
        positional = [a for a in args[1:2] if args[:1] == ["serve"]]
        model = flag(args, "--model") or (positional[0] if positional else "unknown")
    else:
        model = flag(args, "--model-id") or "unknown"
    for line in startup_log(engine, model)[:5]:
        say(line)
    code = int(os.environ.get("FAKE_CONTAINER_EXIT") or 0)
    if code:
        say("Traceback (most recent call last):")
        say('  File "/usr/local/lib/python3.12/dist-packages/vllm/worker.py", line 1, in load')
        say("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 "
            "has a total capacity of 7.50 GiB of which 1.10 GiB is free.")
        return code
    time.sleep(float(os.environ.get("FAKE_CONTAINER_DELAY") or 0))
    for line in startup_log(engine, model)[5:]:
        say(line)
    while os.environ.get("FAKE_CONTAINER_NEVER_READY"):
        time.sleep(1)
    if engine == "vllm":
        app = FakeVllm(model=model).app()
    elif engine == "tgi":
        app = FakeTgi(model_id=model).app()
    else:
        app = FakeTei(model_id=model).app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    original_startup = server.startup

    async def startup(sockets=None):
        await original_startup(sockets)
        say(ready_line(engine, port))

    server.startup = startup
    server.run()
    return 0


if __name__ == "__main__":
    exit_file = os.environ.get("FAKE_EXIT_FILE")
    status = 1
    try:
        status = main()
    finally:
        if exit_file:
            Path(exit_file).write_text(str(status))
    sys.exit(status)
