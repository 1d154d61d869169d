"""Benchmark static assets: what a worker without `[assets]` pays (nothing, we claim),
what one with them pays per worker request, and what an asset costs.

    .venv/bin/python bench/bench_assets.py [--before DIR] [--rounds 5] [--requests 2000]

Prints figures, never asserts; every figure has its comparison measured in the same run:
- in-process (`emulator.testing.load_worker`, the one request path): microseconds per
  `fetch` of the hello worker, of the same worker with `[assets]` (a path no file
  answers, so the worker runs after the assets lookup), of a static file, of a 304, and
  of `env.ASSETS.fetch` from the worker; rounds interleaved, medians;
- with `--before DIR` (a checkout of the commit before assets, e.g. made with
  `git worktree add DIR <commit>`): `edge dev` on the hello example from DIR's code and
  from this tree, interleaved: cold start to the first 200 and CPU per request under load
  (bench_dev.py's load generator), medians. Both run in this venv, each tree's code
  first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_dev  # the load generator and helpers of bench_dev.py

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "examples" / "workers" / "hello"
ASSETS_TOML = '\n[assets]\ndirectory = "public"\nbinding = "ASSETS"\n'


def make_sites(tmp: Path) -> tuple[Path, Path]:
    plain = tmp / "plain"
    skip = shutil.ignore_patterns("__pycache__", ".wrangler", "tests")
    shutil.copytree(HELLO, plain, ignore=skip)
    with_assets = tmp / "assets"
    shutil.copytree(plain, with_assets)
    toml = with_assets / "wrangler.toml"
    toml.write_text(toml.read_text() + ASSETS_TOML)
    public = with_assets / "public"
    public.mkdir()
    (public / "index.html").write_text("<h1>home</h1>\n")
    (public / "style.css").write_text("body { margin: 0 }\n" * 50)
    return plain, with_assets


async def per_fetch_us(worker, path: str, n: int, headers=None) -> float:
    for _ in range(50):
        await (await worker.fetch(path, headers=headers)).bytes()
    start = time.perf_counter()
    for _ in range(n):
        await (await worker.fetch(path, headers=headers)).bytes()
    return (time.perf_counter() - start) / n * 1e6


async def in_process(plain: Path, with_assets: Path, rounds: int, n: int) -> None:
    from emulator.testing import load_worker

    cases: dict[str, list[float]] = {}
    async with load_worker(plain) as hello, load_worker(with_assets) as site:
        css = await site.fetch("/style.css")
        etag = css.headers.get("etag")

        async def via_binding() -> float:
            start = time.perf_counter()
            for _ in range(n):
                await (await site.env.ASSETS.fetch("http://localhost/style.css")).bytes()
            return (time.perf_counter() - start) / n * 1e6

        runs = {
            "hello, no [assets]            ": lambda: per_fetch_us(hello, "/hello", n),
            "hello with [assets], worker   ": lambda: per_fetch_us(site, "/hello", n),
            "static file (style.css, 1 KB) ": lambda: per_fetch_us(site, "/style.css", n),
            "304 (If-None-Match)           ": lambda: per_fetch_us(
                site, "/style.css", n, {"if-none-match": etag}
            ),
            "env.ASSETS.fetch (no request path)": via_binding,
        }
        for _ in range(rounds):
            for name, run in runs.items():
                cases.setdefault(name, []).append(await run())
    base = statistics.median(cases["hello, no [assets]            "])
    print(f"in-process fetch, median of {rounds} interleaved rounds of {n} requests")
    for name, values in cases.items():
        median = statistics.median(values)
        print(f"  {name.strip():36s} {median:8.1f} us   {median / base:5.2f} x hello")


def start(tree: Path, port: int) -> subprocess.Popen:
    # both trees through PYTHONPATH, so neither pays the editable install's import hook
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(tree)}
    return subprocess.Popen(
        [*bench_dev.EDGE_CMD, "dev", str(HELLO), "--port", str(port), "--no-api", "--no-reload"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip


def before_after(before: Path, rounds: int) -> None:
    figures: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    order = [("before", before), ("after", ROOT)]
    for _ in range(rounds):
        order.reverse()  # alternate who goes first: the machine's load drifts
        for label, tree in order:
            port = bench_dev.free_port()
            proc = start(tree, port)
            url = f"http://127.0.0.1:{port}/"
            try:
                cold = bench_dev.wait_ready(url, proc)
                rps, cpu_us, generator = bench_dev.measure(url, proc.pid, 32, 2)
            finally:
                bench_dev.stop(proc)
            for key, value in (("cold", cold * 1000), ("rps", rps), ("cpu", cpu_us)):
                figures[label].setdefault(key, []).append(value)
    print(f"edge dev hello, {before} (before) vs this tree (after), {rounds} interleaved rounds")
    print(f"  load generator: {generator}, 32 connections, 2 s")
    for key, unit in (("cold", "ms cold start"), ("rps", "req/s"), ("cpu", "us CPU/request")):
        b, a = (statistics.median(figures[x][key]) for x in ("before", "after"))
        print(f"  {unit:15s} before {b:9.1f}   after {a:9.1f}   after/before {a / b:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="checkout of the code to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        plain, with_assets = make_sites(Path(tmp))
        asyncio.run(in_process(plain, with_assets, args.rounds, args.requests))
    if args.before is not None:
        before_after(args.before.resolve(), args.rounds)


if __name__ == "__main__":
    main()
