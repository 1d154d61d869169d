"""A bounded fuzz of both of `edge dev`'s ports over real sockets: malformed request
lines, oversized parts, odd encodings, invalid UTF-8, Content-Length lies and broken
chunked encoding, hand-written and mutated at random (seeded). Every case ends within a
bound; edge itself never answers 500 (nor a REST 3043); memory stays bounded; both
ports still answer afterwards."""

from __future__ import annotations

import json
import random
import re
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.support.edge_dev import EdgeDev

WORKER = '''
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        try:
            body = await request.text()
        except Exception as exc:  # a client that left mid-body
            return Response(f"unread: {type(exc).__name__}", status=499)
        return Response(f"{request.method} {len(body)}")
'''
CONFIG = """name = "fuzz"
main = "src/entry.py"
compatibility_date = "2025-06-01"
compatibility_flags = ["python_workers"]

[ai]
binding = "AI"
"""
RUN = "/client/v4/accounts/x/ai/run/@cf/meta/llama-2-7b-chat-fp16"
CASE_TIMEOUT = 5.0


def valid(path: str, body: bytes) -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body))
    ) + body


def handwritten(path: str) -> list[bytes]:
    p = path.encode()
    body = b'{"prompt": "hi"}'
    return [
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x00\xff\xfe" * 200 + b"\r\n\r\n",
        b"G E T / HTTP/1.1\r\n\r\n",
        b"GET /%zz%00%ff HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /\xff\xfe\x80 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET " + p + b"?q=\xc3\x28&x=%ED%A0%80 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\rHost: x\r\r",
        b"GET / HTTP/1.1\r\nHost: \xff\xfe\r\nX-Utf8: \xc3\x28\r\n\r\n",
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 200_000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: v\r\n" * 40_000 + b"\r\n",
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nshort",
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" + body,
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n" + body,
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\nx",
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\r\nx",
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\n",
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n",
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcdEF",
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"ffffffffffffffff\r\nab\r\n",
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=\xff\r\nabcd\r\n0\r\nTrailer: \xff\r\n\r\n",
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n" + body,
        valid(path, b"\xff\xfe\x00\x80 not utf-8"),
        valid(path, b'{"prompt": "x", "temperature": NaN}'),
        valid(path, b'{"prompt": "\\ud800\\udfff\\ud800"}'),
        valid(path, b'{"prompt": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
        valid(path, b'{"prompt": 1' + b"0" * 5000 + b"}"),
        valid(path, json.dumps({"messages": [{"role": "user", "content": "\x00" * 99}]}).encode()),
        valid(path, b"\xef\xbb\xbf" + body),  # a BOM
        valid(path, body).replace(b"application/json", b"application/json; charset=utf-16"),
        valid(path, body).replace(b"Host: 127.0.0.1", b"Host: evil.example"),
        valid(path, body).replace(b"Host: 127.0.0.1\r\n", b""),
        valid(path, body).replace(b"HTTP/1.1", b"HTTP/1.0"),
        valid(path, body).replace(b"POST", b"PATCH"),
        valid(path, body).replace(b"POST", b"OPTIONS"),
        valid(path, body) * 3,  # pipelined
    ]


def mutated(path: str, rng: random.Random, count: int) -> list[bytes]:
    base = valid(path, b'{"prompt": "tell me", "max_tokens": 5}')
    cases = []
    for _ in range(count):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            at = rng.randrange(len(data))
            if op < 0.4:
                data[at] = rng.randrange(256)
            elif op < 0.6:
                del data[at : at + rng.randint(1, 8)]
            elif op < 0.8:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            else:
                data[at:at] = rng.choice([b"\r\n", b"\r\n\r\n", b":", b"\x00", b"%", b"chunked"])
        cases.append(bytes(data))
    return cases


def exchange(port: int, data: bytes) -> tuple[bytes, float]:
    """Send `data`, close the sending side, read the answer; bounded by CASE_TIMEOUT."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=CASE_TIMEOUT) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # refused mid-send (an oversized head): read the answer anyway
            pass
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if time.monotonic() - started > CASE_TIMEOUT:
                    break
        except ConnectionResetError:
            pass
        except TimeoutError:
            chunks.append(b"<hang>")
    return b"".join(chunks), time.monotonic() - started


def statuses(answer: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"(?:^|\n)HTTP/1\.[01] (\d{3}) ", answer)]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "src").mkdir()
    (root / "src" / "entry.py").write_text(WORKER)
    (root / "wrangler.toml").write_text(CONFIG)
    dev = EdgeDev(str(root), "--no-reload", "--ai-route", "*=scripted:echo",
                  "--api-port", "0", api=True).start()  # fmt: skip
    api = dev.wait_for(r"REST API.*?(http://127\.0\.0\.1:\d+)").group(1)
    yield dev, api
    dev.stop()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_fuzz_both_ports(edge):
    dev, api = edge
    rng = random.Random(20261205)
    targets = {
        "worker": (int(dev.url.rsplit(":", 1)[1]), "/echo"),
        "api": (int(api.rsplit(":", 1)[1]), RUN),
    }
    httpx.post(dev.url + "/warm", content=b"x" * 1000, timeout=10)
    before = rss_kb(dev.proc.pid)
    worst, counts, failures = 0.0, {}, []
    for name, (port, path) in targets.items():
        for data in handwritten(path) + mutated(path, rng, 150):
            answer, took = exchange(port, data)
            worst = max(worst, took)
            for code in statuses(answer) or [0]:
                counts[code] = counts.get(code, 0) + 1
            if b"<hang>" in answer or took >= CASE_TIMEOUT:
                failures.append((name, "hang", data[:80]))
            if 500 in statuses(answer) or b'"code":3043' in answer.replace(b" ", b""):
                failures.append((name, answer[:300], data[:80]))
    after = rss_kb(dev.proc.pid)
    print(f"\nfuzz: {sum(counts.values())} answers by status {dict(sorted(counts.items()))}; "
          f"slowest case {worst:.2f} s; RSS {before // 1024} -> {after // 1024} MiB "
          f"({(after - before) // 1024:+d} MiB)")  # fmt: skip
    assert not failures, failures[:5]
    assert after - before < 200 * 1024, "memory grew by more than 200 MiB"
    # both ports still serve, promptly
    assert httpx.post(dev.url + "/after", content=b"ok", timeout=5).text == "POST 2"
    answer = httpx.post(api + RUN, json={"prompt": "still here"}, timeout=5).json()
    assert answer["result"]["response"] == "still here"
    assert "Traceback" not in dev.output(), dev.output()[-3000:]
