"""FastAPI (ASGI), Django with D1 (WSGI) and an FFI worker under a real `edge dev`.

The same workers are tested in-process through the plugin (examples/workers/*/tests,
tests/emulator/ffi/test_ffi_worker.py): these check that `edge dev` serves them alike.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.support.edge_dev import EdgeDev

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def serve(tmp_path):
    procs: list[EdgeDev] = []

    def start(source: Path) -> EdgeDev:
        target = tmp_path / source.name
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".wrangler"))
        proc = EdgeDev(str(target), "--no-reload")
        procs.append(proc)
        return proc.start()

    yield start
    for proc in procs:
        proc.stop()


def test_fastapi_worker(serve):
    dev = serve(ROOT / "examples" / "workers" / "fastapi")
    assert dev.get("/").json() == {"message": "Hello, World!"}
    saved = httpx.put(dev.url + "/notes/n1", json={"title": "t"}, timeout=10)
    assert saved.status_code == 201
    assert dev.get("/notes/n1").json() == {"title": "t", "body": ""}
    assert dev.get("/notes/none").status_code == 404
    with httpx.stream("GET", dev.url + "/count?to=5", timeout=10) as response:
        assert response.headers.get("transfer-encoding") == "chunked"  # streamed, not buffered
        assert "content-length" not in response.headers
        assert response.read() == b"1\n2\n3\n4\n5\n"


def test_django_worker_on_d1(serve):
    dev = serve(ROOT / "examples" / "workers" / "django")
    assert dev.get("/").text.startswith("Hello from Django on 127.0.0.1")
    assert dev.post("/migrate/").json() == {"migrated": True}
    assert dev.post("/notes/", json={"title": "from curl"}).status_code == 201
    assert [n["title"] for n in dev.get("/notes/").json()["notes"]] == ["from curl"]
    assert dev.get("/stream/").text == "line 0\nline 1\nline 2\n"


def test_ffi_worker(serve):
    dev = serve(ROOT / "tests" / "support" / "ffi_worker")
    assert dev.get("/hello").text == "Hello World!"
    assert dev.get("/json?q=x").json() == {"path": "/json", "q": "x"}
    echoed = dev.post("/echo", content=b"abc", headers={"content-type": "text/x"})
    assert (echoed.text, echoed.headers["content-type"]) == ("abc", "text/x")
    failed = dev.get("/error")
    assert failed.status_code == 400 and failed.text.startswith("SyntaxError")
    dev.stop()
    assert "ffi worker: GET /hello" in dev.output()
