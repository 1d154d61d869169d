"""GPU engines: what the vLLM engine (and env.AI.run on top of it) adds to a backend call.

    .venv/bin/python bench/bench_gpu_engines.py [--calls 300] [--streams 500] [--no-dev]

A fake vLLM server (`tests/fakes/fake_vllm.py`) runs on loopback uvicorn in a child
process, so the server never shares this process's GIL. Figures only; nothing asserts.

0. CPU per call against an in-memory transport (the contention-free figure: this
   machine is often shared), direct httpx versus the engine.
1. Latency, sequential and interleaved (every round runs each variant once, in rotating
   order, so drift hits all alike), each reading a 16-token stream to its end:
   - `direct`: httpx straight to `/v1/completions`, parsing each `data:` frame (the
     baseline a hand-written client pays);
   - `engine`: `VllmEngine.generate` on the same backend;
   - `service`: `AiService.run` (validation, templating, routing) non-streaming,
     and `service stream` reading its SSE frames.
   Prints p50/p99 and each one's added p50 over `direct` (target: engine < 0.5 ms).
2. Concurrency: `--streams` simultaneous streams (32 tokens, 10 ms apart, like a GPU
   decoding) straight with httpx, through the engine, and through `edge dev` (the chat
   example with `--ai-route '*=vllm:URL'`, POST /stream): errors, p50/p99 per stream,
   relayed frames per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bindings.ai.engines.base import GenerationRequest, Usage  # noqa: E402
from bindings.ai.engines.vllm import create  # noqa: E402
from bindings.ai.routing import Route  # noqa: E402
from bindings.ai.service import AiService  # noqa: E402
from emulator.local_settings import AiSettings  # noqa: E402

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"
SERVED = "TheBloke/Llama-2-13B-chat-AWQ"
CHAT = ROOT / "examples" / "workers" / "chat"
EDGE = Path(sys.executable).with_name("edge")
EDGE_CMD = (
    [str(EDGE)]
    if EDGE.exists()
    else [sys.executable, "-c", "from emulator.cli import main; main()"]
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def start_fake(tokens: int, delay: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "FAKE_VLLM_MODEL": SERVED,
        "FAKE_VLLM_TOKENS": str(tokens),
        "FAKE_VLLM_TOKEN_DELAY": str(delay),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.fakes.fake_vllm:create_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--backlog",
            "4096",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/health", proc)
    return proc, url


def start_edge(fake_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *EDGE_CMD,
            "dev",
            str(CHAT),
            "--port",
            str(port),
            "--no-api",
            "--no-reload",
            "--ai-route",
            f"*=vllm:{fake_url}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/stream", proc)
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- 0. CPU per call, in-process transport --------------------------------------------------


async def cpu_per_call(calls: int) -> None:
    """Contention-free figure: the same 16-token stream from an in-memory transport, so the
    CPU time per call is this process's work only (no server, no loopback, no neighbours)."""
    frames = b"".join(
        b"data: "
        + json.dumps(
            {
                "id": "c",
                "object": "text_completion",
                "created": 1,
                "model": SERVED,
                "choices": [
                    {"index": 0, "text": f" t{i}", "logprobs": None, "finish_reason": None}
                ],
            }
        ).encode()
        + b"\n\n"
        for i in range(16)
    )
    usage = {"prompt_tokens": 3, "completion_tokens": 16, "total_tokens": 19}
    frames += b"data: " + json.dumps({"id": "c", "choices": [], "usage": usage}).encode()
    frames += b"\n\ndata: [DONE]\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=frames)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    engine = create(
        Route(MODEL, "vllm", urls=("http://gpu:8000",), served_model=SERVED), client=client
    )
    request = GenerationRequest(model=MODEL, prompt="[INST] Hi [/INST]", max_tokens=16)
    payload = {
        "model": SERVED,
        "prompt": request.prompt,
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def direct() -> None:
        async with client.stream("POST", "http://gpu:8000/v1/completions", json=payload) as r:
            async for line in r.aiter_lines():
                if line.startswith("data:") and line[5:].strip() != "[DONE]":
                    json.loads(line[5:])

    async def via_engine() -> None:
        async for _ in engine.generate(request):
            pass

    cpu = {"direct": 0.0, "engine": 0.0}
    for _ in range(3):  # alternate, so both see the same conditions
        for name, fn in (("direct", direct), ("engine", via_engine)):
            started = time.process_time()
            for _ in range(calls):
                await fn()
            cpu[name] += (time.process_time() - started) / (3 * calls) * 1e6
    print(f"\n0. CPU per call, in-memory transport, {calls} x 3 calls each")
    print(
        f"   direct {cpu['direct']:.0f} us, engine {cpu['engine']:.0f} us: "
        f"the engine adds {cpu['engine'] - cpu['direct']:.0f} us per 16-token stream"
    )
    await client.aclose()


# --- 1. latency ----------------------------------------------------------------------------


async def latency(url: str, calls: int) -> None:
    prompt = "[INST] What is the origin of the phrase Hello, World [/INST]"
    payload = {
        "model": SERVED,
        "prompt": prompt,
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    client = httpx.AsyncClient(timeout=30)
    engine = create(Route(MODEL, "vllm", urls=(url,), served_model=SERVED))
    service = AiService.from_settings(AiSettings.from_specs([f"*=vllm:{url}"]))
    request = GenerationRequest(model=MODEL, prompt=prompt, stream=True, max_tokens=16)
    inputs = {"prompt": prompt, "raw": True, "max_tokens": 16}

    async def direct() -> None:
        async with client.stream("POST", f"{url}/v1/completions", json=payload) as response:
            async for line in response.aiter_lines():  # to the end: the connection is reused
                if line.startswith("data:"):
                    data = line[5:].strip()
                    if data != "[DONE]":
                        json.loads(data)

    async def via_engine() -> None:
        async for _ in engine.generate(request):
            pass

    async def via_service() -> None:
        await service.run(MODEL, inputs)

    async def via_service_stream() -> None:
        async for _ in await service.run(MODEL, {**inputs, "stream": True}):
            pass

    variants: dict[str, Callable[[], Awaitable[None]]] = {
        "direct": direct,
        "engine": via_engine,
        "service": via_service,
        "service stream": via_service_stream,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for _ in range(20):  # warm-up: pools, caches, served-model discovery
        for fn in variants.values():
            await fn()
    for i in range(calls):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            started = time.perf_counter()
            await variants[name]()
            times[name].append((time.perf_counter() - started) * 1000)
    base = statistics.median(times["direct"])
    print(f"\n1. latency, {calls} sequential calls each, 16-token stream read to the end")
    print(f"   {'variant':<16}{'p50 ms':>9}{'p99 ms':>9}{'added p50 ms':>14}{'ratio':>8}")
    for name, values in times.items():
        p50 = statistics.median(values)
        print(f"   {name:<16}{p50:9.3f}{pct(values, 0.99):9.3f}{p50 - base:14.3f}{p50 / base:8.2f}")
    added = statistics.median(times["engine"]) - base
    print(
        f"   engine adds {added:.3f} ms at p50 (target < 0.5 ms): "
        f"{'met' if added < 0.5 else 'MISSED'}"
    )
    await engine.close()
    await service.close()
    await client.aclose()


# --- 2. concurrency --------------------------------------------------------------------------


async def many(label: str, streams: int, one: Callable[[], Awaitable[int]]) -> None:
    durations: list[float] = []
    errors: list[str] = []
    frames = 0

    async def timed() -> None:
        nonlocal frames
        started = time.perf_counter()
        try:
            relayed = await one()  # awaited first: `frames += await` would lose updates
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            return
        frames += relayed
        durations.append(time.perf_counter() - started)

    wall = time.perf_counter()
    await asyncio.gather(*(timed() for _ in range(streams)))
    wall = time.perf_counter() - wall
    p50 = pct(durations, 0.5) * 1000 if durations else float("nan")
    p99 = pct(durations, 0.99) * 1000 if durations else float("nan")
    print(
        f"   {label:<12}{streams:>8}{len(errors):>8}{p50:>10.1f}{p99:>10.1f}{frames / wall:>12.0f}"
    )
    for message in sorted(set(errors))[:3]:
        print(f"      error: {message[:160]}")


async def concurrency(url: str, streams: int, edge_url: str | None) -> None:
    limits = httpx.Limits(max_connections=streams + 16, max_keepalive_connections=streams + 16)
    client = httpx.AsyncClient(timeout=60, limits=limits)
    engine = create(
        Route(
            MODEL,
            "vllm",
            urls=(url,),
            served_model=SERVED,
            options={"max_connections": streams + 16},
        )
    )
    prompt = "[INST] Hi [/INST]"
    payload = {
        "model": SERVED,
        "prompt": prompt,
        "max_tokens": 64,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def direct() -> int:
        n = 0
        async with client.stream("POST", f"{url}/v1/completions", json=payload) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data:") and "[DONE]" not in line:
                    json.loads(line[5:])
                    n += 1
        return n

    async def via_engine() -> int:
        n = 0
        async for item in engine.generate(GenerationRequest(MODEL, prompt, max_tokens=64)):
            n += not isinstance(item, Usage)
        return n

    async def via_edge() -> int:
        n, done = 0, False
        body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 64}
        async with client.stream("POST", f"{edge_url}/stream", json=body) as response:
            if response.status_code != 200:
                raise RuntimeError(
                    f"HTTP {response.status_code}: {(await response.aread())[:200]!r}"
                )
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    if "[DONE]" in line:
                        done = True
                    elif '"error"' in line:
                        raise RuntimeError(line[:200])
                    else:
                        n += 1
        if not done:
            raise RuntimeError("stream ended without [DONE]")
        return n

    print(f"\n2. {streams} concurrent streams (32 tokens, 10 ms apart)")
    print(f"   {'path':<12}{'streams':>8}{'errors':>8}{'p50 ms':>10}{'p99 ms':>10}{'frames/s':>12}")
    await many("direct", streams, direct)
    await many("engine", streams, via_engine)
    if edge_url:
        await many("edge dev", streams, via_edge)
    await engine.close()
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--no-dev", action="store_true", help="skip the edge dev run")
    args = parser.parse_args()
    fast, fast_url = start_fake(16, 0.0)
    slow, slow_url = start_fake(32, 0.01)
    edge = None
    try:
        asyncio.run(cpu_per_call(1000))
        asyncio.run(latency(fast_url, args.calls))
        edge_url = None
        if not args.no_dev:
            edge, edge_url = start_edge(slow_url)
        asyncio.run(concurrency(slow_url, args.streams, edge_url))
    finally:
        for proc in (edge, fast, slow):
            if proc is not None:
                stop(proc)


if __name__ == "__main__":
    main()
