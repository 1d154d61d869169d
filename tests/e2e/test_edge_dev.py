"""`edge dev` as a real subprocess on a free loopback port, driven over real HTTP.

Each test starts `edge dev --port 0` (the OS picks the port; the `Ready on` line says
which) on the examples or on a copy of them in tmp_path, so hot-reload edits never touch
the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.loopback import free_port
from tests.support.edge_dev import COMMAND, EdgeDev, poll

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workers"
@pytest.fixture
def edge_dev():
    procs: list[EdgeDev] = []

    def start(
        *args: str, cwd: Path | None = None, ready: bool = True, api: bool = False
    ) -> EdgeDev:
        proc = EdgeDev(*args, cwd=cwd, api=api)
        procs.append(proc)
        return proc.start() if ready else proc

    yield start
    for proc in procs:
        proc.stop()


def copy_example(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(
        EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__", ".wrangler")
    )
    return target



def test_hello_routes_json_and_request_log(edge_dev):
    dev = edge_dev(str(EXAMPLES / "hello"))
    r = dev.get("/")
    assert r.status_code == 200 and r.text == "Hello, world!"
    assert r.headers["content-length"] == str(len("Hello, world!"))

    r = dev.post("/echo", json={"name": "edge", "items": [1, 2]})
    assert r.json() == {"you_sent": {"name": "edge", "items": [1, 2]}, "method": "POST"}

    assert dev.get("/headers", headers={"X-Custom": "yes"}).json()["x-custom"] == "yes"
    assert dev.get("/missing").status_code == 404
    r = dev.get("/redirect", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].endswith("/")
    assert "Hello" in dev.output()  # the banner lists vars
    dev.wait_for(r"GET /missing 404 Not Found \(\d+\.\dms, cpu \d+\.\dms\)")
    dev.wait_for(r"POST /echo 200 OK")


def test_streaming_route_sends_chunks_as_produced(edge_dev):
    dev = edge_dev(str(EXAMPLES / "hello"))
    with httpx.stream("GET", dev.url + "/stream?n=3&delay=0.05", timeout=10) as r:
        assert r.headers.get("transfer-encoding") == "chunked"
        lines = list(r.iter_lines())
    assert lines == ["3...", "2...", "1...", "liftoff!"]


GATED = """
import asyncio
from workers import Response, WorkerEntrypoint

RELEASE = asyncio.Event()

async def gated():
    yield "first\\n"
    await asyncio.wait_for(RELEASE.wait(), timeout=20)
    yield "second\\n"

async def broken():
    yield "partial\\n"
    raise RuntimeError("generator broke mid-stream")

STATE = {"produced": 0, "closed": False}

async def endless():
    try:
        for i in range(100_000):
            STATE["produced"] = i
            yield f"token {i}\\n"
            await asyncio.sleep(0.01)
    finally:
        STATE["closed"] = True

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.url.endswith("/endless"):
            return Response(endless())
        if request.url.endswith("/state"):
            return Response.json(STATE)
        if request.url.endswith("/release"):
            RELEASE.set()
            return Response("released")
        if request.url.endswith("/broken"):
            return Response(broken())
        return Response(gated())
"""


def test_first_chunk_arrives_before_the_last_is_produced(edge_dev, tmp_path):
    (tmp_path / "entry.py").write_text(GATED)
    (tmp_path / "wrangler.toml").write_text('name = "gated"\nmain = "entry.py"\n')
    dev = edge_dev(str(tmp_path))
    with httpx.stream("GET", dev.url + "/gate", timeout=10) as r:
        chunks = r.iter_text()
        # the second chunk is produced only after /release: a buffering server would
        # hold "first" back and this read would time out
        assert next(chunks) == "first\n"
        assert dev.get("/release").text == "released"
        assert "".join(chunks) == "second\n"


def test_client_disconnect_stops_the_generator(edge_dev, tmp_path):
    (tmp_path / "entry.py").write_text(GATED)
    (tmp_path / "wrangler.toml").write_text('name = "gated"\nmain = "entry.py"\n')
    dev = edge_dev(str(tmp_path))
    with httpx.stream("GET", dev.url + "/endless", timeout=10) as r:
        assert next(r.iter_text()).startswith("token 0")
    state = poll(lambda: dev.get("/state").json(), lambda s: s["closed"])
    assert state["closed"] and state["produced"] < 100_000
    dev.wait_for(r"GET /endless 200 OK .*\[client closed\]")


def test_a_stream_failing_mid_way_drops_the_connection_and_is_shown_once(edge_dev, tmp_path):
    (tmp_path / "entry.py").write_text(GATED)
    (tmp_path / "wrangler.toml").write_text('name = "gated"\nmain = "entry.py"\n')
    dev = edge_dev(str(tmp_path))
    # a truncated body, never a clean end
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", dev.url + "/broken") as r:
        assert r.status_code == 200
        r.read()
    dev.wait_for(r"RuntimeError: generator broke mid-stream")
    assert dev.get("/release").text == "released"  # the server carries on
    assert dev.output().count("RuntimeError: generator broke mid-stream") == 1
    assert "Exception in ASGI application" not in dev.output()


def test_uncaught_exception_gives_error_page_and_terminal_traceback(edge_dev):
    dev = edge_dev(str(EXAMPLES / "hello"))
    r = dev.get("/error", headers={"accept": "text/html"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert "RuntimeError" in r.text and "this route fails on purpose" in r.text
    assert "entry.py" in r.text and f"GET {dev.url}/error" in r.text
    r = dev.get("/error", headers={"accept": "application/json"})
    assert r.json()["error"] == {"type": "RuntimeError", "message": "this route fails on purpose"}
    dev.wait_for(r"Uncaught exception in GET")
    dev.wait_for(r"RuntimeError: this route fails on purpose")
    assert dev.get("/").text == "Hello, world!"  # the failure affected nothing else


def test_env_dev_vars_and_var_overrides(edge_dev, tmp_path):
    root = copy_example("hello", tmp_path)
    (root / ".dev.vars").write_text("API_TOKEN=s3cr3t-value\n")
    dev = edge_dev(str(root))
    assert dev.get("/env").json() == {"greeting": "Hello", "has_api_token": True}
    assert "API_TOKEN" in dev.output() and "s3cr3t-value" not in dev.output()
    dev.stop()

    dev = edge_dev(str(root), "--env", "staging")  # .dev.vars.staging absent: .dev.vars is used
    assert dev.get("/env").json()["greeting"] == "Hello from staging"
    assert "hello-staging" in dev.output()
    dev.stop()

    dev = edge_dev(str(root), "--var", "GREETING:Howdy")
    assert dev.get("/").text == "Howdy, world!"


def test_test_scheduled_runs_the_scheduled_handler(edge_dev):
    dev = edge_dev(str(EXAMPLES / "hello"), "--test-scheduled")
    r = dev.get("/__scheduled", params={"cron": "*/5 * * * *"})
    assert r.status_code == 200 and r.text == "Ran scheduled event"
    r = dev.get("/cdn-cgi/handler/scheduled", params={"cron": "0 * * * *"})
    assert r.status_code == 200
    assert [run["cron"] for run in dev.get("/scheduled-runs").json()] == [
        "*/5 * * * *",
        "0 * * * *",
    ]


def test_without_test_scheduled_the_path_reaches_fetch(edge_dev):
    dev = edge_dev(str(EXAMPLES / "hello"))
    assert dev.get("/__scheduled?cron=*").status_code == 404  # the worker's own 404
    assert dev.get("/scheduled-runs").json() == []


def test_legacy_example(edge_dev):
    dev = edge_dev(str(EXAMPLES / "legacy"), "--test-scheduled")
    assert dev.get("/").text == "Hello from a legacy worker"
    assert dev.post("/echo", content=b"raw body").text == "raw body"
    assert dev.get("/cdn-cgi/handler/scheduled", params={"cron": "0 * * * *"}).status_code == 200
    assert dev.get("/runs").json() == ["0 * * * *"]
    assert "legacy module-level handlers" not in dev.output()  # the flag is set


def test_hot_reload_good_broken_fixed(edge_dev, tmp_path):
    root = copy_example("hello", tmp_path)
    entry = root / "src" / "entry.py"
    source = entry.read_text()
    dev = edge_dev(str(root))
    assert dev.get("/").text == "Hello, world!"

    entry.write_text(
        source.replace('f"{self.env.GREETING}, world!"', 'f"{self.env.GREETING}, edited!"')
    )
    r = poll(dev.get, lambda r: r.text == "Hello, edited!")
    assert r.text == "Hello, edited!"

    mark = len(dev.output())
    entry.write_text(
        source.replace("class Default(WorkerEntrypoint):", "class Default(WorkerEntrypoint)")
    )
    dev.wait_for(r"Reload failed", after=mark)
    dev.wait_for(r"Still serving the last version", after=mark)
    assert dev.get("/").text == "Hello, edited!"  # the broken save is not served

    entry.write_text(
        source.replace('f"{self.env.GREETING}, world!"', 'f"{self.env.GREETING}, fixed!"')
    )
    r = poll(dev.get, lambda r: r.text == "Hello, fixed!")
    assert r.text == "Hello, fixed!"

    config = root / "wrangler.toml"
    config.write_text(config.read_text().replace('GREETING = "Hello"', 'GREETING = "Hey"', 1))
    r = poll(dev.get, lambda r: r.text == "Hey, fixed!")
    assert r.text == "Hey, fixed!"

    (root / ".dev.vars").write_text("API_TOKEN=added-later\n")
    r = poll(lambda: dev.get("/env"), lambda r: r.json()["has_api_token"])
    assert r.json()["has_api_token"] is True


def test_bad_config_exits_with_a_clear_error(edge_dev, tmp_path):
    (tmp_path / "wrangler.toml").write_text('name = "x"\nmain = "entry.py"\n[vars]\nA = [\n')
    dev = edge_dev(str(tmp_path), ready=False)
    assert dev.proc.wait(timeout=30) == 1
    assert "wrangler.toml" in dev.output()


def test_ctrl_c_exits_cleanly(edge_dev):
    dev = edge_dev(str(EXAMPLES / "hello"))
    assert dev.get("/").status_code == 200
    assert dev.stop() == 0
    assert "Traceback" not in dev.output()


def test_request_bodies_stream_in_and_json_errors_are_the_workers(edge_dev):
    dev = edge_dev(str(EXAMPLES / "hello"))

    def body():
        yield b'{"chunked": '
        yield b"true}"

    r = dev.post("/echo", content=body(), headers={"content-type": "application/json"})
    assert r.json()["you_sent"] == {"chunked": True}
    r = dev.post("/echo", content=b"{not json", headers={"accept": "application/json"})
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "json.decoder.JSONDecodeError"
    assert json.loads(dev.post("/echo", json=[1]).text)["you_sent"] == [1]


AI_WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        out = await self.env.AI.run(
            "@cf/meta/llama-2-7b-chat-fp16", {"prompt": "say hi"}
        )
        return Response.json(out)
"""



def test_ai_binding_and_rest_api_on_their_ports(edge_dev, tmp_path):
    (tmp_path / "entry.py").write_text(AI_WORKER)
    (tmp_path / "wrangler.toml").write_text(
        'name = "ai-worker"\nmain = "entry.py"\n\n[ai]\nbinding = "AI"\n'
    )
    api_port = free_port()
    dev = edge_dev(
        str(tmp_path), "--ai-route", "*=scripted:echo", "--api-port", str(api_port), api=True
    )
    out = dev.output()
    assert "env.AI" in out and "scripted" in out  # the binding's describe() lines
    assert f"http://127.0.0.1:{api_port}" in out
    r = dev.get("/")
    assert r.status_code == 200 and "response" in r.json()
    api = httpx.get(
        f"http://127.0.0.1:{api_port}/client/v4/accounts/local/ai/models/search", timeout=10
    )
    assert api.status_code == 200 and api.json()["success"] is True


def test_interactive_terminal_keys_and_x_exits(tmp_path):
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*COMMAND, "dev", str(EXAMPLES / "hello"), "--port", "0", "--no-api", "--no-reload"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "160", "TERM": "dumb"},
    )
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"[wrangler:info] Ready on" not in seen and time.monotonic() < deadline:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        assert b"[b] open a browser" in seen and b"[x] to exit" in seen
        os.write(master, b"x")
        assert proc.wait(timeout=15) == 0
        assert b"Traceback" not in seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_editing_a_sibling_module_reloads_the_worker(edge_dev, tmp_path):
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "entry.py").write_text(
        "from workers import Response, WorkerEntrypoint\n"
        "from lib.words import WORD\n\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n"
        "        return Response(WORD)\n"
    )
    (src / "lib" / "__init__.py").write_text("")
    (src / "lib" / "words.py").write_text('WORD = "before"\n')
    (tmp_path / "wrangler.toml").write_text('name = "siblings"\nmain = "src/entry.py"\n')
    dev = edge_dev(str(tmp_path))
    assert dev.get().text == "before"
    (src / "lib" / "words.py").write_text('WORD = "after"\n')
    assert poll(dev.get, lambda r: r.text == "after").text == "after"
