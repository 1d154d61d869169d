"""Per-request cost of the SDK objects the dev server builds for a hello-world request.

Prints microseconds per operation and each figure's share of the 200 µs per-request budget
that 5,000 req/s leaves on one core. Baseline in the same run: a bare starlette Request +
PlainTextResponse, what a plain ASGI app would pay. Run: .venv/bin/python bench/bench_sdk.py
"""

from __future__ import annotations

import asyncio
import tempfile
import textwrap
import time
from pathlib import Path

from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse

from emulator.config import WorkerConfig
from emulator.context import ExecutionContext
from emulator.sdk import Headers, Request, Response
from emulator.worker import load_worker

RAW = [(b"host", b"127.0.0.1:8787"), (b"user-agent", b"oha/1.4"), (b"accept", b"*/*"),
       (b"accept-encoding", b"gzip, br")]
SCOPE = {"type": "http", "method": "GET", "scheme": "http", "path": "/", "raw_path": b"/",
         "query_string": b"", "headers": RAW, "server": ("127.0.0.1", 8787)}
N = 20_000


def per_op(fn, n: int = N) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    (folder / "entry.py").write_text(textwrap.dedent("""
        from workers import WorkerEntrypoint, Response
        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                return Response("Hello World!")
    """))
    worker = load_worker(WorkerConfig(file=folder / "wrangler.toml", root=folder, name="b",
                                      main=folder / "entry.py"), {})
    str_pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in RAW]
    loop = asyncio.new_event_loop()

    async def dispatch_many(n: int) -> None:
        for _ in range(n):
            ctx = ExecutionContext()
            response = await worker.fetch(Request.from_asgi(SCOPE, receive), ctx)
            response.headers.raw()
            await ctx.drain()

    def dispatch_batch(n: int = 1000) -> None:
        loop.run_until_complete(dispatch_many(n))

    def baseline_dispatch():
        StarletteRequest(SCOPE, receive).headers.get("host")
        PlainTextResponse("Hello World!")

    figures = {
        "starlette Request + PlainTextResponse (baseline)": per_op(baseline_dispatch),
        "Headers.from_raw (4 ASGI headers)": per_op(lambda: Headers.from_raw(RAW)),
        "Headers(list of 4 str pairs), validated": per_op(lambda: Headers(str_pairs)),
        "Request.from_asgi": per_op(lambda: Request.from_asgi(SCOPE, receive)),
        "Request(url, method, str pairs)": per_op(
            lambda: Request("http://127.0.0.1:8787/", "GET", str_pairs)),
        'Response("Hello World!") + headers.raw()': per_op(
            lambda: Response("Hello World!").headers.raw()),
        "Response.json({...})": per_op(lambda: Response.json({"ok": True, "n": 1})),
    }
    figures["Worker.fetch round trip (from_asgi, fetch, raw, drain)"] = (
        per_op(dispatch_batch, 20) / 1000
    )
    loop.close()
    budget = 1e6 / 5000
    base = figures["starlette Request + PlainTextResponse (baseline)"]
    print(f"{'operation':58} {'µs/op':>8} {'% of 200µs':>11} {'x baseline':>11}")
    for name, micros in figures.items():
        print(f"{name:58} {micros:8.2f} {micros / budget * 100:10.1f}% {micros / base:10.2f}x")


if __name__ == "__main__":
    main()
