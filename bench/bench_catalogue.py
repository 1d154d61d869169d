"""What the whole Workers AI catalogue (112 records) costs at start-up and on first use.

    .venv/bin/python bench/bench_catalogue.py [--runs 8] [--calls 50]

Prints figures, never asserts. Every figure has a baseline measured in the same run: the
same thing with the catalogue as it was before the records shipped (the two seed entries
alone: `records/` swapped for an empty index), and, for loading, what an eager loader
would pay (every record parsed and its schemas checked up front).

- `load_catalogue()` in this process (best of `--calls`), full vs seeds only vs eager;
- first use of one record: its schema (the largest record, ~340 KB) and its validator;
- a fresh interpreter importing the catalogue and loading it;
- `edge dev` cold start to the first 200 of a worker with an `[ai]` binding (the hello
  example plus `[ai] binding = "AI"`), full vs seeds only, runs interleaved so that load
  from other processes hits both alike; wall time and the CPU time edge dev used.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_dev

import bindings.ai.catalogue as catalogue_module
from bindings.ai.catalogue import RECORDS_DIR, load_catalogue
from bindings.ai.catalogue.records import INDEX_COLUMNS, read_index, record_entry
from bindings.ai.validation import validator_for_entry

# edge, with the shipped records replaced by the folder given as the first argument.
PATCHED_EDGE = (
    "import sys; from pathlib import Path; import bindings.ai.catalogue as c; "
    "c.RECORDS_DIR = Path(sys.argv.pop(1)); from emulator.cli import main; main()"
)
IMPORT_AND_LOAD = (
    "import sys, time; t = time.perf_counter(); from pathlib import Path; "
    "import bindings.ai.catalogue as c; "
    "c.RECORDS_DIR = Path(sys.argv[1]) if len(sys.argv) > 1 else c.RECORDS_DIR; "
    "n = len(c.load_catalogue()); print(n, time.perf_counter() - t)"
)


def best_ms(fn: Callable[[], object], calls: int) -> float:
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def empty_records(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "INDEX.tsv").write_text("\t".join(INDEX_COLUMNS) + "\n")
    return folder


def eager_load() -> int:
    """What loading costs when every record is parsed and checked up front."""
    for row in read_index(RECORDS_DIR):
        record_entry(RECORDS_DIR / row.file)  # parses and checks the schemas now
    return len(load_catalogue())


def bench_in_process(seeds: Path, calls: int) -> None:
    full = best_ms(load_catalogue, calls)
    catalogue_module.RECORDS_DIR = seeds
    try:
        seeds_only = best_ms(load_catalogue, calls)
    finally:
        catalogue_module.RECORDS_DIR = RECORDS_DIR
    eager = best_ms(eager_load, max(3, calls // 10))
    print(f"load_catalogue(), best of {calls}")
    print(f"  111 models (112 records, lazy): {full:7.2f} ms")
    print(f"  seeds only (the baseline):      {seeds_only:7.2f} ms   "
          f"+{full - seeds_only:.2f} ms for the records")
    print(f"  eager (every record parsed):    {eager:7.2f} ms   lazy is {eager / full:.0f}x less")

    biggest = max(read_index(RECORDS_DIR), key=lambda row: row.chars)
    entry = load_catalogue().get(biggest.name)
    start = time.perf_counter()
    assert entry.input_schema
    schema_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    validator_for_entry(entry)
    validator_ms = (time.perf_counter() - start) * 1000
    print(f"first use of {biggest.name} ({biggest.chars / 1000:.0f} KB record)")
    print(f"  parse + check its schema: {schema_ms:6.1f} ms; compile its validator: "
          f"{validator_ms:6.1f} ms (once per process)")


def fresh_interpreter(seeds: Path, runs: int) -> None:
    def one(*args: str) -> float:
        out = subprocess.run([sys.executable, "-c", IMPORT_AND_LOAD, *args],
                             capture_output=True, text=True, check=True).stdout.split()
        return float(out[1]) * 1000

    full, base = [], []
    for _ in range(runs):
        full.append(one())
        base.append(one(str(seeds)))
    print(f"fresh interpreter: import + load_catalogue(), median of {runs}")
    full_ms, base_ms = statistics.median(full), statistics.median(base)
    print(f"  111 models {full_ms:6.1f} ms   seeds only {base_ms:6.1f} ms   "
          f"ratio {full_ms / base_ms:.2f}")


def cold_start(seeds: Path, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        worker = Path(tmp) / "hello-ai"
        shutil.copytree(bench_dev.HELLO, worker,
                        ignore=shutil.ignore_patterns("__pycache__", ".wrangler"))
        with (worker / "wrangler.toml").open("a") as toml:
            toml.write('\n[ai]\nbinding = "AI"\n')
        results: dict[str, tuple[list[float], list[float]]] = {"full": ([], []),
                                                               "seeds": ([], [])}
        for _ in range(runs):
            for label in ("full", "seeds"):
                port = bench_dev.free_port()
                log = Path(tmp) / f"{label}.log"
                command = ([*bench_dev.EDGE_CMD] if label == "full"
                           else [sys.executable, "-c", PATCHED_EDGE, str(seeds)])
                proc = subprocess.Popen(
                    [*command, "dev", str(worker), "--port", str(port), "--no-api",
                     "--no-reload"],
                    stdin=subprocess.DEVNULL, stdout=log.open("w"), stderr=subprocess.STDOUT,
                )
                try:
                    wall = bench_dev.wait_ready(f"http://127.0.0.1:{port}/", proc)
                    cpu = bench_dev.cpu_seconds(proc.pid)
                finally:
                    bench_dev.stop(proc)
                results[label][0].append(wall)
                if cpu is not None:
                    results[label][1].append(cpu)
        banner = (Path(tmp) / "full.log").read_text()
        models = next((line.strip() for line in banner.splitlines() if "models →" in line), "")
    print(f"edge dev cold start to the first 200, worker with [ai], median of {runs} "
          "(interleaved)")
    for label, name in (("full", "111 models"), ("seeds", "seeds only (baseline)")):
        wall, cpu = results[label]
        cpu_text = f"   CPU {statistics.median(cpu) * 1000:5.0f} ms" if cpu else ""
        print(f"  {name:22} wall {statistics.median(wall) * 1000:5.0f} ms{cpu_text}")
    full, base = (statistics.median(results[k][0]) for k in ("full", "seeds"))
    ratio = f"  ratio full / seeds: {full / base:.2f} (wall)"
    if results["full"][1] and results["seeds"][1]:
        cpu_full, cpu_base = (statistics.median(results[k][1]) for k in ("full", "seeds"))
        ratio += f", {cpu_full / cpu_base:.2f} (CPU)"
    print(ratio)
    print(f"  banner: {models}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seeds = empty_records(Path(tmp) / "no-records")
        bench_in_process(seeds, args.calls)
        fresh_interpreter(seeds, args.runs)
        cold_start(seeds, args.runs)


if __name__ == "__main__":
    main()
