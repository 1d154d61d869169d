"""Embedding throughput of the CPU stand-in: `env.AI.run` against the raw library, in the
same run, rounds interleaved so load from other processes hits both alike.

    .venv/bin/python bench/bench_embeddings.py [--rounds 5] [--batch 32] [--texts 128]

- raw: `BertEncoder.encode(texts)` (numpy, the bundled all-MiniLM-L6-v2), what the engine
  calls, with nothing around it;
- env.AI.run: `Ai.run("@cf/baai/bge-base-en-v1.5", {"text": batch})` through the binding
  (catalogue lookup, schema validation, routing, the encoder engine off the event loop,
  the 384 -> 768 projection, the Cloudflare-shaped result with Python floats).

Prints texts per second for each (median of the rounds) and the ratio; never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bindings.ai.binding import Ai
from bindings.ai.catalogue import load_catalogue
from bindings.ai.engines.bert_encoder import BertEncoder, bundled_path
from bindings.ai.routing import RouteTable
from bindings.ai.service import AiService

MODEL = "@cf/baai/bge-base-en-v1.5"


def texts(count: int) -> list[str]:
    topics = ["the weather", "a football match", "stock prices", "a cooking recipe",
              "a mountain hike", "an old library", "a jazz concert", "the city at night"]
    return [f"Sentence {i} is a short paragraph about {topics[i % len(topics)]}, written "
            f"to look like what a retrieval pipeline would embed." for i in range(count)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32, help="texts per call")
    parser.add_argument("--texts", type=int, default=128, help="texts per round")
    args = parser.parse_args()

    corpus = texts(args.texts)
    batches = [corpus[i : i + args.batch] for i in range(0, len(corpus), args.batch)]
    encoder = BertEncoder(bundled_path())
    service = AiService(load_catalogue(), RouteTable())
    ai = Ai(service)
    await ai.run(MODEL, {"text": batches[0]})  # loads the engine's own copy of the weights
    encoder.encode(batches[0])

    raw, binding = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        for batch in batches:
            encoder.encode(batch)
        raw.append(len(corpus) / (time.perf_counter() - started))
        started = time.perf_counter()
        for batch in batches:
            await ai.run(MODEL, {"text": batch})
        binding.append(len(corpus) / (time.perf_counter() - started))
    await service.close()

    raw_rate, run_rate = statistics.median(raw), statistics.median(binding)
    print(f"texts per round: {len(corpus)} in batches of {args.batch}; rounds: {args.rounds}")
    print(f"raw BertEncoder.encode      : {raw_rate:8.1f} texts/s")
    print(f"env.AI.run ({MODEL}): {run_rate:8.1f} texts/s")
    print(f"ratio env.AI.run / raw      : {run_rate / raw_rate:8.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
