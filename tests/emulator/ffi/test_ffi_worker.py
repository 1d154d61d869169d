"""A worker written against `js` and `pyodide.ffi`, through the pytest plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parents[2] / "support" / "ffi_worker"


@pytest.fixture
def worker(edge_worker):
    return edge_worker(WORKER)


async def test_js_response_and_url(worker, capsys):
    response = await worker.fetch("/hello")
    assert (response.status, await response.text()) == (200, "Hello World!")
    assert "ffi worker: GET /hello" in capsys.readouterr().out
    response = await worker.fetch("/json?q=a%20b")
    assert response.headers.get("content-type") == "application/json"
    assert await response.json() == {"path": "/json", "q": "a b"}


async def test_headers_status_and_json_stringify(worker):
    response = await worker.fetch("/headers")
    assert response.status == 201
    assert response.headers.get("x-edge") == "1"
    assert await response.text() == '{"ok":true}'


async def test_js_object_body_and_bindings(worker):
    response = await worker.fetch("/echo", body=b"\x00\x01bytes",
                                  headers={"content-type": "application/x-test"})
    assert response.headers.get("content-type") == "application/x-test"
    assert await response.text() == "\x00\x01bytes"
    response = await worker.fetch("/kv")
    assert await response.json() == {"keys": ["when"], "when": "1970-01-01T00:00:00.000Z"}


async def test_javascript_errors_and_proxies(worker):
    response = await worker.fetch("/error")
    assert response.status == 400
    assert (await response.text()).startswith("SyntaxError: Unexpected token 'b'")
    assert await (await worker.fetch("/proxy")).text() == "42"
