"""Benchmark: the llama.cpp engine (and `env.AI.run` through `AiService`) vs raw llama-cpp-python.

Same GGUF (the bundled stand-in unless --gguf), same prompt, same greedy parameters, same
context and thread settings, measured in the same run with the variants interleaved
round by round (so a busy machine slows all of them alike). Prints figures, no asserts:

- decode tokens/s of a streamed completion, and the ratio to raw (target >= 0.95);
- time to first token (a fresh prompt each round, so it includes prompt evaluation)
  and its overhead over raw (target < 5 ms), also isolated: a cached prompt and one token,
  the median of paired differences;
- a concurrency curve: aggregate tokens/s, requests/minute and p50/p99 time to first
  token with 1, 2, 4, 8 clients (each sends `--curve-rounds` requests back to back) on an
  engine decoding up to `--parallel` sequences together, next to a ceiling measured in the
  same run on the same GGUF: a minimal batched decode loop straight on llama-cpp-python's
  low-level API (`batched_ceiling.py`, no edge code). Targets: at 8 clients >= 2x one
  client's tokens/s and >= 0.9x the ceiling's.

    .venv/bin/python bench/bench_llamacpp.py [--rounds 5] [--max-tokens 128] [--http]
        [--curve 1,2,4,8] [--curve-rounds 3] [--curve-tokens 64] [--parallel 8]
        [--curve-repeats 2] [--curve-only]

`--http` adds the chat example served by `edge dev` (a subprocess with its own model),
streamed over loopback HTTP, against raw llama-cpp-python on the same prompt.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bindings.ai.engines.base import GenerationRequest, Usage
from bindings.ai.engines.gguf import bundled_gguf
from bindings.ai.engines.llamacpp import LlamaCppEngine, sampling

SERVICE_MODEL = "@cf/meta/llama-2-7b-chat-fp16"  # its schema takes temperature (seed 004)
TOPICS = ["dragons", "the sea", "a lighthouse", "robots", "a mountain", "winter", "bees",
          "a train", "the moon", "a garden", "clocks", "a river"]


def prompt_text(round_no: int) -> str:
    topic = TOPICS[round_no % len(TOPICS)]
    return f"Write a long, detailed story about {topic}. (take {round_no})"


def prompt_for(engine: LlamaCppEngine, round_no: int) -> str:
    return engine.prompt_format("bench").render(messages_for(round_no))


def messages_for(round_no: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt_text(round_no)}]


def raw_stream(llm, prompt: str, max_tokens: int, params: dict) -> tuple[float, float, str]:
    """(ttft s, decode s after the first token, text) from raw `create_completion(stream)`."""
    started = time.perf_counter()
    first = None
    parts = []
    for chunk in llm.create_completion(prompt, max_tokens=max_tokens, stream=True,
                                       temperature=params["temp"], top_p=params["top_p"],
                                       top_k=params["top_k"], min_p=params["min_p"],
                                       repeat_penalty=params["repeat_penalty"], seed=1):
        text = chunk["choices"][0]["text"]
        if text and first is None:
            first = time.perf_counter()
        parts.append(text)
    end = time.perf_counter()
    return first - started, end - first, "".join(parts)


async def engine_stream(engine, prompt: str, max_tokens: int):
    """(ttft s, decode s after the first token, text, usage) through `engine.generate`."""
    request = GenerationRequest(model="bench", prompt=prompt, max_tokens=max_tokens,
                                temperature=0, seed=1)
    started = time.perf_counter()
    first = None
    parts, usage = [], None
    async for item in engine.generate(request):
        if isinstance(item, Usage):
            usage = item
            continue
        if first is None:
            first = time.perf_counter()
        parts.append(item)
    end = time.perf_counter()
    return first - started, end - first, "".join(parts), usage


async def service_stream(service, prompt: str, max_tokens: int):
    """The same through `AiService.run` (what `env.AI.run(..., stream=True)` does)."""
    started = time.perf_counter()
    stream = await service.run(SERVICE_MODEL, {"prompt": prompt, "raw": True, "stream": True,
                                               "max_tokens": max_tokens, "temperature": 0,
                                               "seed": 1})
    first = None
    parts, usage = [], None
    async for item in stream.chunks():
        if isinstance(item, Usage):
            usage = item
            continue
        if first is None:
            first = time.perf_counter()
        parts.append(item)
    end = time.perf_counter()
    return first - started, end - first, "".join(parts), usage


CHAT_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "workers" / "chat"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)  # nearest rank: with few samples p99 is the slowest
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def concurrency_curve(path: Path, args) -> None:
    """Clients 1, 2, 4, 8 on one engine vs the batched ceiling, each count measured right
    after the other (order alternated); the whole curve `--curve-repeats` times, up then
    down, so a machine getting busier or quieter weighs on every count alike (medians)."""
    from batched_ceiling import Ceiling

    counts = [int(c) for c in args.curve.split(",")]
    parallel = args.parallel or max(counts)
    n_ctx = 512  # per sequence: these prompts (~40 tokens) plus their replies
    engine = LlamaCppEngine(None if args.gguf is None else path, n_ctx=n_ctx,
                            n_threads=args.threads, parallel=parallel)
    ceiling = Ceiling(path, args.threads)
    rounds, tokens = args.curve_rounds, args.curve_tokens
    await engine_stream(engine, prompt_for(engine, 99), 4)  # load
    results: dict[int, dict[str, list]] = {c: {"e": [], "c": [], "et": [], "ct": [], "rpm": []}
                                           for c in counts}
    serial = 0
    for repeat in range(args.curve_repeats):
        for clients in counts if repeat % 2 == 0 else counts[::-1]:
            serial += 1
            base = 1000 * serial  # fresh prompts every time: no reply is served twice
            prompts = [[prompt_for(engine, base + r * clients + c) for c in range(clients)]
                       for r in range(rounds)]

            async def measure_engine(prompts=prompts, clients=clients):
                ttfts, produced = [], 0

                async def client(c: int) -> None:
                    nonlocal produced
                    for r in range(rounds):
                        ttft, _, _, usage = await engine_stream(engine, prompts[r][c], tokens)
                        ttfts.append(ttft)
                        produced += usage.completion_tokens

                started = time.perf_counter()
                await asyncio.gather(*(client(c) for c in range(clients)))
                return produced, time.perf_counter() - started, ttfts

            if serial % 2:  # alternate who goes first
                c_tokens, c_seconds, c_ttfts = ceiling.run(prompts, tokens)
                e_tokens, e_seconds, e_ttfts = await measure_engine()
            else:
                e_tokens, e_seconds, e_ttfts = await measure_engine()
                c_tokens, c_seconds, c_ttfts = ceiling.run(prompts, tokens)
            row = results[clients]
            row["e"].append(e_tokens / e_seconds)
            row["c"].append(c_tokens / c_seconds)
            row["rpm"].append(clients * rounds / e_seconds * 60)
            row["et"] += e_ttfts
            row["ct"] += c_ttfts
    await engine.close()
    ceiling.close()
    print(f"\nconcurrency curve: {rounds} requests per client, max_tokens {tokens}, greedy, "
          f"median of {args.curve_repeats} runs; engine parallel={parallel}, n_ctx={n_ctx}, "
          f"threads {args.threads or 'default'}; ceiling = batched low-level loop")
    print(f"{'clients':>7} {'engine tok/s':>12} {'x1 client':>9} {'req/min':>8} "
          f"{'TTFT p50':>9} {'p99 ms':>7} {'ceiling tok/s':>13} {'TTFT p50':>9} {'p99 ms':>7} "
          f"{'vs ceiling':>10}")
    single = statistics.median(results[counts[0]]["e"])
    for clients in counts:
        row = results[clients]
        e_rate, c_rate = statistics.median(row["e"]), statistics.median(row["c"])
        print(f"{clients:>7} {e_rate:12.1f} {e_rate / single:9.2f} "
              f"{statistics.median(row['rpm']):8.0f} {percentile(row['et'], 0.5) * 1e3:9.0f} "
              f"{percentile(row['et'], 0.99) * 1e3:7.0f} {c_rate:13.1f} "
              f"{percentile(row['ct'], 0.5) * 1e3:9.0f} {percentile(row['ct'], 0.99) * 1e3:7.0f} "
              f"{e_rate / c_rate:10.3f}")


async def paired_ttft(label, variant, llm, prompt, params, reps) -> None:
    """Median TTFT of raw and of `variant()` (sync or async, returning (ttft, ...)), run in
    alternating pairs, and the median of the paired differences."""
    raws, values, diffs = [], [], []

    async def measure() -> float:
        result = variant()
        if asyncio.iscoroutine(result):
            result = await result
        return result[0]

    for rep in range(reps):
        if rep % 2:
            value = await measure()
            raw = raw_stream(llm, prompt, 1, params)[0]
        else:
            raw = raw_stream(llm, prompt, 1, params)[0]
            value = await measure()
        raws.append(raw)
        values.append(value)
        diffs.append(value - raw)
    print(f"TTFT, cached prompt, 1 token, {label} ({reps} pairs): raw "
          f"{statistics.median(raws) * 1e3:.2f} ms, {label} {statistics.median(values) * 1e3:.2f}"
          f" ms, overhead (median of paired differences) {statistics.median(diffs) * 1e3:.2f} ms")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_stream(client, base: str, messages: list, max_tokens: int) -> tuple[float, float, int]:
    """(ttft s, decode s after the first token, completion tokens) of POST /stream (SSE)."""
    started = time.perf_counter()
    first = None
    tokens = 0
    with client.stream("POST", f"{base}/stream", json={"messages": messages,
                                                       "max_tokens": max_tokens},
                      timeout=300) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            frame = json.loads(line[6:])
            if frame.get("response") and first is None:
                first = time.perf_counter()
            if "usage" in frame:
                tokens = frame["usage"]["completion_tokens"]
    return first - started, time.perf_counter() - first, tokens


async def bench_http(engine, llm, args) -> None:
    """The chat example under `edge dev` (its own process and model) vs raw, same prompt.

    That model's schema (AWQ, seed 000) takes no temperature, so both sample at the
    engine's default and the texts differ; tokens/s and TTFT are what is compared."""
    port = free_port()
    edge = Path(sys.executable).with_name("edge")
    cmd = [str(edge), "dev", str(CHAT_EXAMPLE), "--port", str(port),
           "--no-api", "--no-reload", "--log-level", "warn"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    import httpx

    # One client for the whole run: building one per request costs tens of ms (TLS setup).
    client = httpx.Client()
    try:
        deadline = time.monotonic() + 60
        while True:  # ready once an unknown path answers (404: no model involved)
            try:
                if httpx.get(f"{base}/ready-check", timeout=2).status_code == 404:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                print(f"(edge dev did not start: {proc.stderr.read().decode()[-500:]})")
                return
            time.sleep(0.2)
        params = sampling(GenerationRequest(model="bench", prompt=""))
        rows: dict[str, list] = {"raw": [], "HTTP edge dev": []}
        http_stream(client, base, messages_for(99), 8)  # loads the dev server's model
        for round_no in range(args.rounds):
            prompt = prompt_for(engine, round_no)
            t, d, text = raw_stream(llm, prompt, args.max_tokens, params)
            n = len(llm.tokenize(text.encode(), add_bos=False))
            rows["raw"].append((t, d, n))
            rows["HTTP edge dev"].append(http_stream(client, base, messages_for(round_no),
                                                             args.max_tokens))
        base_rate = statistics.median((n - 1) / d for _, d, n in rows["raw"] if n > 1)
        base_ttft = statistics.median(t for t, _, _ in rows["raw"])
        print(f"\nthrough HTTP (chat example, POST /stream, temperature "
              f"{params['temp']}, {args.rounds} rounds):")
        for name, samples in rows.items():
            r = statistics.median((n - 1) / d for _, d, n in samples if n > 1)
            t = statistics.median(t for t, _, _ in samples)
            print(f"{name:<14} {r:8.1f} tok/s  ratio {r / base_rate:6.3f}  TTFT {t * 1e3:8.2f} ms"
                  f"  overhead {(t - base_ttft) * 1e3:8.2f} ms")
        one_token = lambda: http_stream(client, base, messages_for(7), 1)  # noqa: E731
        await paired_ttft("HTTP edge dev", one_token, llm, prompt_for(engine, 7), params,
                          args.ttft_reps)
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def make_service(path: Path, args):
    try:
        from bindings.ai.service import AiService
        from emulator.local_settings import AiSettings
    except ImportError as exc:
        print(f"(AiService not importable, skipping env.AI.run: {exc})")
        return None
    service = AiService.from_settings(AiSettings.from_specs())
    engine = LlamaCppEngine(None if args.gguf is None else path, n_ctx=args.n_ctx,
                            n_threads=args.threads)
    service.set_engine("*", engine)
    return service


async def main(args) -> None:
    from bindings.ai.engines.llama_load import new_llama

    path = Path(args.gguf) if args.gguf else bundled_gguf()
    if args.curve_only:
        await concurrency_curve(path, args)
        return
    engine = LlamaCppEngine(None if args.gguf is None else path, n_ctx=args.n_ctx,
                            n_threads=args.threads)
    llm = new_llama(model_path=str(path), n_ctx=args.n_ctx, n_threads=args.threads,
                n_batch=engine.n_batch, verbose=False)
    service = make_service(path, args)
    params = sampling(GenerationRequest(model="bench", prompt="", temperature=0))
    print(f"model {engine.label}; n_ctx {args.n_ctx}; threads {llm.n_threads}; "
          f"greedy; max_tokens {args.max_tokens}; {args.rounds} rounds (after 1 warm-up)")

    # Warm-up loads every model and touches its pages.
    raw_stream(llm, prompt_for(engine, 99), 8, params)
    await engine_stream(engine, prompt_for(engine, 99), 8)
    if service is not None:
        await service_stream(service, prompt_for(engine, 99), 8)

    rows: dict[str, list[tuple[float, float, int]]] = {"raw": [], "engine": [], "env.AI.run": []}
    mismatches = 0
    for round_no in range(args.rounds):
        prompt = prompt_for(engine, round_no)
        # Alternate who goes first, so neither always meets a warmer (or busier) machine.
        if round_no % 2:
            e_ttft, e_decode, text, usage = await engine_stream(engine, prompt, args.max_tokens)
            ttft, decode, raw_text = raw_stream(llm, prompt, args.max_tokens, params)
        else:
            ttft, decode, raw_text = raw_stream(llm, prompt, args.max_tokens, params)
            e_ttft, e_decode, text, usage = await engine_stream(engine, prompt, args.max_tokens)
        n = usage.completion_tokens
        mismatches += text != raw_text
        rows["engine"].append((e_ttft, e_decode, n))
        rows["raw"].append((ttft, decode, n))  # same greedy tokens as the engine's
        if service is not None:
            s_ttft, s_decode, s_text, s_usage = await service_stream(service, prompt,
                                                                    args.max_tokens)
            mismatches += s_text != raw_text
            rows["env.AI.run"].append((s_ttft, s_decode, s_usage.completion_tokens))

    def rate(samples):  # decode tokens/s after the first token, median over rounds
        return statistics.median((n - 1) / d for _, d, n in samples if d > 0 and n > 1)

    def ttft(samples):
        return statistics.median(t for t, _, _ in samples)

    base_rate, base_ttft = rate(rows["raw"]), ttft(rows["raw"])
    print(f"\n{'variant':<12} {'tok/s':>8} {'ratio':>7} {'TTFT ms':>9} {'overhead ms':>12}")
    for name, samples in rows.items():
        if not samples:
            continue
        r, t = rate(samples), ttft(samples)
        print(f"{name:<12} {r:8.1f} {r / base_rate:7.3f} {t * 1e3:9.2f} "
              f"{(t - base_ttft) * 1e3:12.2f}")
    print(f"outputs identical to raw: {mismatches == 0} ({mismatches} mismatches)")

    # TTFT overhead in isolation: a cached prompt and one token, so the model's own work is
    # a single decode and the paired difference is mostly the engine's handoff.
    cached = prompt_for(engine, 7)
    await paired_ttft("engine", lambda: engine_stream(engine, cached, 1), llm, cached, params,
                      args.ttft_reps)
    if service is not None:
        await paired_ttft("env.AI.run", lambda: service_stream(service, cached, 1), llm, cached,
                          params, args.ttft_reps)

    await concurrency_curve(path, args)

    if args.http:
        await bench_http(engine, llm, args)

    await engine.close()
    if service is not None:
        await service.close()
    llm.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", help="a GGUF file (default: the bundled stand-in)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--ttft-reps", type=int, default=30)
    parser.add_argument("--http", action="store_true",
                        help="also stream through HTTP from `edge dev` on the chat example")
    parser.add_argument("--curve", default="1,2,4,8", help="client counts of the curve")
    parser.add_argument("--curve-rounds", type=int, default=3,
                        help="requests each client sends back to back")
    parser.add_argument("--curve-tokens", type=int, default=64, help="max_tokens per request")
    parser.add_argument("--curve-repeats", type=int, default=2,
                        help="times the curve is measured (up, down, ...); medians reported")
    parser.add_argument("--curve-only", action="store_true", help="only the concurrency curve")
    parser.add_argument("--parallel", type=int, default=None,
                        help="the curve engine's parallel= (default: the most clients)")
    asyncio.run(main(parser.parse_args()))
