"""Benchmark `edge dev` on this machine: throughput, cold start, reload latency.

    .venv/bin/python bench/bench_dev.py [--duration 5] [--connections 32] [--runs 10]

Prints figures, never asserts. Each figure is measured against something in the same run:
- requests/s of the hello example at 32 keep-alive connections, next to a baseline
  (a bare uvicorn ASGI app answering the same text, i.e. what this machine, loopback and
  the load generator can do at all) and Wrangler's figure from issue 2 (about 490 req/s);
- cold start: from spawning `edge dev` to the first 200 response (Wrangler: about 4 s);
- reload: from saving `src/entry.py` to the first response from the new code (target
  under 300 ms).
Load generator: `wrk` when installed (Debian: `apt-get install -y wrk`), else a
multi-process asyncio client on raw sockets; the output says which.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "examples" / "workers" / "hello"
EDGE = Path(sys.executable).with_name("edge")
EDGE_CMD = (
    [str(EDGE)]
    if EDGE.exists()
    else [sys.executable, "-c", "from emulator.cli import main; main()"]
)
WRANGLER = {"rps": 490.0, "cold_start_s": 4.0}
TARGETS = {"rps": 5000.0, "cold_start_s": 1.0, "reload_ms": 300.0}

BASELINE_APP = textwrap.dedent(
    """
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain;charset=UTF-8"),
                                (b"content-length", b"13")]})
        await send({"type": "http.response.body", "body": b"Hello, world!"})

    if __name__ == "__main__":
        import sys, uvicorn
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                    access_log=False, http="httptools", loop="uvloop")
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> float:
    """Poll until `url` answers 200; returns the time it took (bounded by `timeout`)."""
    start = time.perf_counter()
    deadline = start + timeout
    with httpx.Client(timeout=1) as client:
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def start_edge(path: Path, port: int, *extra: str, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
    return subprocess.Popen(
        [*EDGE_CMD, "dev", str(path), "--port", str(port), "--no-api", *extra],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- load generation ---------------------------------------------------------------------


def load_wrk(url: str, connections: int, duration: float) -> tuple[float, int]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  warning: {errors.group(1)} non-2xx responses")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, int(re.search(r"(\d+) requests in", out).group(1))


def _client_process(host: str, port: int, conns: int, duration: float, queue) -> None:
    async def one(stop_at: float) -> int:
        reader, writer = await asyncio.open_connection(host, port)
        request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        done = 0
        while time.perf_counter() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
            await reader.readexactly(length)
            done += 1
        writer.close()
        return done

    async def main() -> int:
        stop_at = time.perf_counter() + duration
        return sum(await asyncio.gather(*(one(stop_at) for _ in range(conns))))

    queue.put(asyncio.run(main()))


def load_python(url: str, connections: int, duration: float) -> tuple[float, int]:
    host, port = re.match(r"http://([^:/]+):(\d+)", url).groups()
    procs_n = 2
    queue = multiprocessing.Queue()
    per = [connections // procs_n + (1 if i < connections % procs_n else 0) for i in range(procs_n)]
    procs = [
        multiprocessing.Process(target=_client_process, args=(host, int(port), n, duration, queue))
        for n in per
    ]
    for p in procs:
        p.start()
    total = sum(queue.get(timeout=duration + 30) for _ in procs)
    for p in procs:
        p.join()
    return total / duration, total


def load(url: str, connections: int, duration: float) -> tuple[float, int, str]:
    """(requests/s, requests, generator name)."""
    if shutil.which("wrk"):
        return (*load_wrk(url, connections, duration), "wrk -t1")
    return (*load_python(url, connections, duration), "python asyncio raw-socket client (2 procs)")


def measure(url: str, pid: int, connections: int, duration: float) -> tuple[float, float, str]:
    """(requests/s, server CPU microseconds per request, generator) after a 1 s warm-up.

    CPU per request barely depends on what else runs on the machine, so 1e6 / it is the
    rate one otherwise idle core would sustain: the figure to compare when the wall-clock
    rate is skewed by other processes."""
    load(url, connections, 1)
    before = cpu_seconds(pid) or 0.0
    rps, total, generator = load(url, connections, duration)
    used = (cpu_seconds(pid) or 0.0) - before
    return rps, used / max(total, 1) * 1e6, generator


# --- the three figures -------------------------------------------------------------------


def bench_throughput(connections: int, duration: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app_file = Path(tmp) / "baseline_app.py"
        app_file.write_text(BASELINE_APP)
        port = free_port()
        base = subprocess.Popen(
            [sys.executable, str(app_file), str(port)], stdin=subprocess.DEVNULL
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/", base)
            baseline, base_us, generator = measure(
                f"http://127.0.0.1:{port}/", base.pid, connections, duration
            )
        finally:
            stop(base)

        port = free_port()
        edge = start_edge(HELLO, port, "--no-reload", log=Path(tmp) / "edge.log")
        try:
            wait_ready(f"http://127.0.0.1:{port}/", edge)
            rps, edge_us, _ = measure(f"http://127.0.0.1:{port}/", edge.pid, connections, duration)
        finally:
            stop(edge)
    print(f"throughput ({connections} connections, {duration:g}s, load generator: {generator})")
    print(f"  edge dev hello          {rps:9.0f} req/s   target >= {TARGETS['rps']:.0f}")
    print(
        f"  bare uvicorn baseline   {baseline:9.0f} req/s   edge = {rps / baseline:.2f} x baseline"
    )
    print(
        f"  wrangler dev (issue 2)  {WRANGLER['rps']:9.0f} req/s"
        f"   edge = {rps / WRANGLER['rps']:.1f} x wrangler"
    )
    if edge_us and base_us:
        print(
            f"  server CPU per request: edge {edge_us:.0f} us (= {1e6 / edge_us:.0f} req/s on one"
            f" free core), baseline {base_us:.0f} us (= {1e6 / base_us:.0f} req/s)"
        )


def cpu_seconds(pid: int) -> float | None:
    """user + system CPU time a process has used so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_cold_start(runs: int) -> None:
    times, cpu = [], []
    for _ in range(runs):
        port = free_port()
        proc = start_edge(HELLO, port, "--no-reload")
        try:
            times.append(wait_ready(f"http://127.0.0.1:{port}/", proc))
            used = cpu_seconds(proc.pid)
            if used is not None:
                cpu.append(used)
        finally:
            stop(proc)
    median = statistics.median(times)
    print(f"cold start to first 200 ({runs} runs)")
    if cpu:
        # wall time stretches when other processes compete for the cores; CPU time does not
        print(f"  CPU time of edge dev until then: median {statistics.median(cpu) * 1000:.0f} ms")
    print(
        f"  median {median * 1000:6.0f} ms   min {min(times) * 1000:.0f}"
        f"   max {max(times) * 1000:.0f}"
        f"   target < {TARGETS['cold_start_s'] * 1000:.0f} ms"
    )
    print(
        f"  wrangler dev (issue 2) {WRANGLER['cold_start_s'] * 1000:.0f} ms"
        f"   edge = {WRANGLER['cold_start_s'] / median:.1f} x faster"
    )


def bench_reload(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "hello"
        shutil.copytree(HELLO, root, ignore=shutil.ignore_patterns("__pycache__", ".wrangler"))
        entry = root / "src" / "entry.py"
        source = entry.read_text()
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        proc = start_edge(root, port)
        latencies = []
        try:
            wait_ready(url, proc)
            time.sleep(1.0)  # let the watcher thread start
            with httpx.Client(timeout=5) as client:
                for i in range(runs + 1):
                    marker = f"reload-{i}"
                    new = source.replace('f"{self.env.GREETING}, world!"', f'"{marker}"')
                    start = time.perf_counter()
                    entry.write_text(new)
                    deadline = start + 10
                    while time.perf_counter() < deadline:
                        if client.get(url).text == marker:
                            break
                        time.sleep(0.002)
                    else:
                        raise RuntimeError(f"save {i} was not served within 10 s")
                    if i:  # the first save also warms the watcher up
                        latencies.append((time.perf_counter() - start) * 1000)
                    time.sleep(0.2)
        finally:
            stop(proc)
    print(f"reload: save -> first response from the new code ({runs} saves)")
    print(
        f"  median {statistics.median(latencies):6.0f} ms   max {max(latencies):.0f}"
        f"   target < {TARGETS['reload_ms']:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
        f"{os.getloadavg()[0]:.2f} (other processes skew every figure)"
    )
    bench_throughput(args.connections, args.duration)
    bench_cold_start(max(3, args.runs // 2))
    bench_reload(args.runs)


if __name__ == "__main__":
    main()
