"""Workers AI binding overhead: what `env.AI.run` adds on top of the engine, and SSE framing.

    .venv/bin/python bench/bench_ai.py [--calls 20000] [--frames 200000]

Prints, for the scripted engine (a fixed 3-token reply, no delay):
- engine time per call: `engine.generate()` consumed directly (the baseline, same run);
- `env.AI.run` per non-streaming call (lookup, validation, ignored keys, templating,
  request building, collecting, result object), and the difference: the binding's
  overhead (target < 100 µs), with validation and templating timed alone;
- SSE framing: frames/s through `AiStream` (target > 100,000), against iterating the
  same chunks unframed.
Figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from bindings.ai.binding import Ai
from bindings.ai.catalogue import load_catalogue
from bindings.ai.chat_templates import get_format
from bindings.ai.engines.base import GenerationRequest, Usage
from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.routing import RouteTable
from bindings.ai.service import AiService
from bindings.ai.streaming import AiStream
from bindings.ai.validation import check_inputs

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"
INPUTS = {
    "messages": [
        {"role": "system", "content": "You are a friendly assistant"},
        {"role": "user", "content": "What is the origin of the phrase Hello, World"},
    ]
}


# CPU time of this process: on a shared, loaded machine wall time mostly measures the
# run queue; CPU time measures the code (both are printed for the run itself).
clock = time.process_time


async def per_call(func, calls: int) -> float:
    for _ in range(min(calls // 10, 500)):  # warm caches (validators, formats)
        await func()
    best = float("inf")
    for _ in range(3):  # best of three rounds: the least disturbed by other processes
        start = clock()
        for _ in range(calls // 3):
            await func()
        best = min(best, (clock() - start) / (calls // 3))
    return best


async def wall_per_call(func, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await func()
    return (time.perf_counter() - start) / calls


async def bench_run(calls: int) -> None:
    engine = ScriptedEngine(text="Hello there, friend")
    service = AiService(load_catalogue(), RouteTable(default=None))
    service.set_engine("*", engine)
    ai = Ai(service)
    prompt = get_format("llama2").render(INPUTS["messages"])
    request = GenerationRequest(model=MODEL, prompt=prompt, messages=INPUTS["messages"])
    entry = service.catalogue.get(MODEL)
    fmt = get_format("llama2")

    async def engine_only():
        async for _ in engine.generate(request):
            pass

    async def full():
        await ai.run(MODEL, INPUTS)

    async def validation():
        check_inputs(entry, INPUTS)

    async def templating():
        fmt.render(INPUTS["messages"])

    engine_s = await per_call(engine_only, calls)
    engine.requests.clear()
    run_s = await per_call(full, calls)
    engine.requests.clear()
    valid_s = await per_call(validation, calls)
    tmpl_s = await per_call(templating, calls)
    overhead = run_s - engine_s
    wall_engine = await wall_per_call(engine_only, calls // 3)
    wall_run = await wall_per_call(full, calls // 3)
    engine.requests.clear()
    print(f"non-streaming env.AI.run, {calls} calls, scripted engine (3-token reply)")
    print(f"  engine alone (baseline)      {engine_s * 1e6:8.1f} µs/call")
    print(f"  env.AI.run                   {run_s * 1e6:8.1f} µs/call")
    print(
        f"  overhead (run - engine)      {overhead * 1e6:8.1f} µs/call   target < 100 µs: "
        f"{'met' if overhead < 100e-6 else 'NOT met'}"
    )
    print(f"    of which validation        {valid_s * 1e6:8.1f} µs/call")
    print(f"    of which templating        {tmpl_s * 1e6:8.1f} µs/call")
    print(f"  run / engine ratio           {run_s / engine_s:8.2f}x")
    print(
        f"  wall clock: engine {wall_engine * 1e6:.1f} µs, run {wall_run * 1e6:.1f} µs, "
        f"overhead {(wall_run - wall_engine) * 1e6:.1f} µs/call"
    )


async def bench_frames(frames: int) -> None:
    chunks = [f" word{i % 100}" for i in range(frames)]
    usage = Usage(prompt_tokens=10, completion_tokens=frames)

    async def source():
        for chunk in chunks:
            yield chunk
        yield usage

    start = clock()
    count = 0
    async for _ in source():
        count += 1
    raw_s = clock() - start

    start = clock()
    framed = 0
    size = 0
    async for frame in AiStream(source()):
        framed += 1
        size += len(frame)
    framed_s = clock() - start
    rate = framed / framed_s
    print(f"SSE framing, {framed} frames ({size / 1e6:.1f} MB)")
    print(f"  unframed iteration (baseline) {count / raw_s:12,.0f} chunks/s")
    print(
        f"  AiStream frames               {rate:12,.0f} frames/s   target > 100,000: "
        f"{'met' if rate > 100_000 else 'NOT met'}"
    )
    print(f"  framing cost per frame        {(framed_s - raw_s) / framed * 1e6:12.2f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--frames", type=int, default=200_000)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs; per-call figures are process CPU")
    print("time, best of 3 rounds (wall time inflates when the load exceeds the CPUs)")
    asyncio.run(bench_run(args.calls))
    asyncio.run(bench_frames(args.frames))


if __name__ == "__main__":
    main()
