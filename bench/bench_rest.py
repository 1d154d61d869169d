"""REST API overhead: what the HTTP layer adds on top of `AiService.run`.

    .venv/bin/python bench/bench_rest.py [--calls 400] [--concurrency 8]

Serves `bindings.ai.rest.create_app` on loopback uvicorn in a child process (a server
thread in this process would share the GIL with the client and measure thread switches)
with the scripted engine (echo, no delay), then prints per-call latency (mean,
p50, p99) and throughput for:
- `AiService.run` called in-process (the baseline, measured in the same run);
- `POST .../ai/run/{model}` (JSON envelope), and with `stream: true` (SSE, read to the end);
- `POST .../ai/v1/chat/completions`, plain and streamed;
- a catalogue page and `/openapi.json`.
and each one's cost over the HTTP floor (a bare JSON route on the same server, measured
in the same run): what this package's code adds per request. Figures only; nothing asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx

from bindings.ai.rest import create_app
from bindings.ai.service import AiService
from emulator.local_settings import AiSettings

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"
MESSAGES = [
    {"role": "system", "content": "You are a friendly assistant"},
    {"role": "user", "content": "What is the origin of the phrase Hello, World"},
]


async def timed(call: Callable[[], Awaitable[None]], calls: int) -> list[float]:
    for _ in range(min(20, calls)):  # warm-up: connections, caches, lazy engines
        await call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


async def throughput(call: Callable[[], Awaitable[None]], calls: int, concurrency: int) -> float:
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return calls / (time.perf_counter() - start)


def line(name: str, samples: list[float], rps: float, floor: float | None) -> str:
    ordered = sorted(samples)
    mean = statistics.fmean(ordered) * 1e6
    p50 = ordered[len(ordered) // 2] * 1e6
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6
    extra = "" if floor is None else f"  +{p50 - floor:5.0f} µs p50 over the floor"
    return (
        f"{name:<34} mean {mean:8.0f} µs  p50 {p50:8.0f}  p99 {p99:8.0f}  {rps:7.0f} req/s{extra}"
    )


def scripted() -> AiService:
    return AiService.from_settings(AiSettings.from_specs(["*=scripted:echo"]))


def run_server(port: int) -> None:
    import uvicorn
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ping(request):  # the HTTP floor: same server, no API code
        return JSONResponse({"result": None})

    app = create_app(scripted())
    app.router.routes.insert(0, Route("/__ping", ping))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@contextlib.contextmanager
def child_server() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(500):  # bounded: up to ~10 s for imports and startup
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                    break
            if child.poll() is not None:
                raise RuntimeError("the API server exited")
            time.sleep(0.02)
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)


async def main(calls: int, concurrency: int) -> None:
    service = scripted()

    async def in_process() -> None:
        await service.run(MODEL, {"messages": MESSAGES})

    with child_server() as server_url:
        base = f"{server_url}/client/v4/accounts/bench/ai"
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def rest_run() -> None:
                response = await client.post(f"{base}/run/{MODEL}", json={"messages": MESSAGES})
                assert response.status_code == 200, response.text

            async def rest_stream() -> None:
                body = {"messages": MESSAGES, "stream": True}
                async with client.stream("POST", f"{base}/run/{MODEL}", json=body) as response:
                    async for _ in response.aiter_bytes():
                        pass

            async def openai_chat() -> None:
                body = {"model": MODEL, "messages": MESSAGES}
                response = await client.post(f"{base}/v1/chat/completions", json=body)
                assert response.status_code == 200, response.text

            async def openai_stream() -> None:
                body = {"model": MODEL, "messages": MESSAGES, "stream": True}
                url = f"{base}/v1/chat/completions"
                async with client.stream("POST", url, json=body) as response:
                    async for _ in response.aiter_bytes():
                        pass

            async def model_page() -> None:
                assert (await client.get(f"{server_url}/models/{MODEL}")).status_code == 200

            async def openapi() -> None:
                assert (await client.get(f"{server_url}/openapi.json")).status_code == 200

            async def ping() -> None:
                assert (await client.get(f"{server_url}/__ping")).status_code == 200

            print(
                f"scripted echo engine, {calls} sequential calls each; "
                f"throughput with {concurrency} concurrent clients"
            )
            samples = await timed(in_process, calls)
            rps = await throughput(in_process, calls, concurrency)
            print(line("AiService.run (in-process)", samples, rps, None))
            samples = await timed(ping, calls)
            floor = sorted(samples)[len(samples) // 2] * 1e6
            rps = await throughput(ping, calls, concurrency)
            print(line("GET /__ping (HTTP floor)", samples, rps, None))
            for name, call in (
                ("POST /ai/run (JSON)", rest_run),
                ("POST /ai/run (stream: true)", rest_stream),
                ("POST /ai/v1/chat/completions", openai_chat),
                ("  ... stream: true", openai_stream),
                ("GET /models/{model} (page)", model_page),
                ("GET /openapi.json", openapi),
            ):
                samples = await timed(call, calls)
                print(line(name, samples, await throughput(call, calls, concurrency), floor))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve)
    else:
        asyncio.run(main(args.calls, args.concurrency))
