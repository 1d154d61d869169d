"""The same worker answers the same in the harness and under `edge dev` (a subprocess on
a free loopback port): status, the headers a client sees from the worker, and the body."""

import re
from pathlib import Path

import httpx
import pytest

from emulator.testing import load_worker
from tests.support.edge_dev import EdgeDev

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "workers"
HEADERS = ("content-type", "content-length", "location", "cf-ai-req-id")
CHAT = {"messages": [{"role": "user", "content": "Say it both ways"}]}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hello_server():
    server = EdgeDev(str(EXAMPLES / "hello"), "--no-reload").start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def chat_server():
    server = EdgeDev(str(EXAMPLES / "chat"), "--no-reload", "--ai-route", "*=scripted:echo")
    yield server.start().url
    server.stop()


def seen_by_client(status, headers, body):
    kept = {name: headers.get(name) for name in HEADERS if headers.get(name) is not None}
    if "cf-ai-req-id" in kept:  # a fresh UUID per call: compare that it is there
        kept["cf-ai-req-id"] = "<set>"
    if "location" in kept:  # the host differs (localhost vs the server's port)
        kept["location"] = re.sub(r"^https?://[^/]+", "", kept["location"])
    return status, kept, body


async def both_ways(worker, server, method, path, json=None):
    options = {"json": json} if json is not None else {}
    response = await worker.fetch(path, method=method, **options)
    mine = seen_by_client(response.status, response.headers, await response.bytes())
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        answer = client.request(method, server + path, json=json)
    theirs = seen_by_client(answer.status_code, answer.headers, answer.content)
    return mine, theirs


@pytest.mark.parametrize(
    ("method", "path", "json"),
    [
        ("GET", "/", None),
        ("POST", "/echo", {"a": [1, "two"], "b": None}),
        ("GET", "/stream?n=3&delay=0", None),
        ("GET", "/redirect", None),
        ("GET", "/no/such/route", None),
        ("GET", "/later", None),
    ],
)
async def test_hello_answers_the_same(hello_server, method, path, json):
    async with load_worker(EXAMPLES / "hello") as worker:
        mine, theirs = await both_ways(worker, hello_server, method, path, json)
    assert mine == theirs
    assert mine[2] or mine[0] in (302, 404)  # a body was compared, not two empty ones


async def test_uncaught_error_is_the_same_500_page(hello_server):
    async with load_worker(EXAMPLES / "hello", raise_errors=False) as worker:
        response = await worker.fetch("/error", headers={"accept": "application/json"})
        mine = (response.status, response.headers.get("content-type"))
        body = await response.json()
    answer = httpx.get(hello_server + "/error", headers={"accept": "application/json"})
    assert mine == (answer.status_code, answer.headers["content-type"])
    assert set(body) == set(answer.json())


@pytest.mark.parametrize(
    ("path", "inputs"),
    [("/", CHAT), ("/stream", CHAT), ("/", {"messages": "not a list"})],
)
async def test_chat_with_scripted_ai_answers_the_same(chat_server, path, inputs):
    async with load_worker(EXAMPLES / "chat", ai="*=scripted:echo") as worker:
        mine, theirs = await both_ways(worker, chat_server, "POST", path, inputs)
    assert mine == theirs
