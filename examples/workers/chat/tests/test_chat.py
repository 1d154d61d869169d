"""The chat example, in-process (the worker loader + the AI binding) and end to end
through `edge dev` in a subprocess, with the scripted engine standing in for the model."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from emulator import loader
from emulator.config import load_config
from emulator.context import ExecutionContext
from emulator.sdk import Request

HERE = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "Why is pizza so good?"}]


@pytest.fixture
async def worker(tmp_path):
    config = load_config(HERE)
    host = loader.host_for(config, tmp_path, ai_routes=["*=scripted:echo"], environ={})
    yield loader.load(config, host)
    await host.close()


async def call(worker, path, body=None, method="POST"):
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    request = Request(f"http://localhost{path}", method=method, body=data)
    return await worker.fetch(request, ExecutionContext())


async def test_json_reply(worker):
    response = await call(worker, "/", {"messages": MESSAGES})
    assert response.status == 200
    body = await response.json()
    assert body["response"] == "Why is pizza so good?"
    assert body["usage"]["completion_tokens"] == 5


async def test_default_conversation_on_get(worker):
    body = await (await call(worker, "/", method="GET")).json()
    assert body["response"] == "What is the origin of the phrase Hello, World"


async def test_stream_reply(worker):
    response = await call(worker, "/stream", {"messages": MESSAGES})
    assert response.headers.get("content-type") == "text/event-stream"
    text = await response.text()
    assert text.startswith('data: {"response":"Why"}\n\n')
    assert text.endswith("data: [DONE]\n\n")


@pytest.mark.parametrize(
    ("path", "body", "method", "status", "fragment"),
    [
        ("/", "not json", "POST", 400, "not JSON"),
        ("/", "[1]", "POST", 400, "JSON object"),
        ("/", {"messages": "hi"}, "POST", 400, "5006: Error: oneOf at '/' not met"),
        ("/", {"messages": MESSAGES, "max_tokens": "x"}, "POST", 400, "5006"),
        ("/nope", None, "GET", 404, "no route /nope"),
        ("/", None, "PUT", 405, "PUT is not allowed"),
    ],
)
async def test_bad_requests_get_clear_errors(worker, path, body, method, status, fragment):
    response = await call(worker, path, body, method)
    assert response.status == status
    assert fragment in (await response.json())["error"]


# --- end to end through `edge dev` --------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("EDGE_AI_ROUTES", None)
    edge = Path(sys.executable).with_name("edge")
    process = subprocess.Popen(
        [
            str(edge),
            "dev",
            str(HERE),
            "--port",
            "0",
            "--no-api",
            "--no-reload",
            "--ai-route",
            "*=scripted:echo,delay=0.005",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    seen = []
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"\[wrangler:info\] Ready on (http://[\d.]+:\d+)", line)
            if match:
                yield match.group(1)
                return
        pytest.fail("edge dev did not start:\n" + "".join(seen))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.e2e
def test_e2e_json(server):
    response = httpx.post(f"{server}/", json={"messages": MESSAGES}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["response"] == "Why is pizza so good?"


@pytest.mark.e2e
def test_e2e_sse_frame_by_frame(server):
    with (
        httpx.Client(timeout=30) as client,
        connect_sse(client, "POST", f"{server}/stream", json={"messages": MESSAGES}) as source,
    ):
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = [event.data for event in source.iter_sse()]
    assert events[-1] == "[DONE]"
    frames = [json.loads(data) for data in events[:-1]]
    assert "".join(frame["response"] for frame in frames) == "Why is pizza so good?"
    assert len(frames) == 6  # five words, then the usage trailer
    assert frames[-1] == {
        "response": "",
        "usage": {
            "prompt_tokens": frames[-1]["usage"]["prompt_tokens"],
            "completion_tokens": 5,
            "total_tokens": frames[-1]["usage"]["total_tokens"],
        },
    }


@pytest.mark.e2e
def test_e2e_invalid_input_is_400(server):
    response = httpx.post(f"{server}/", json={"messages": [{"role": "user"}]}, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"].startswith("5006: ")


@pytest.mark.e2e
def test_e2e_stream_keeps_multibyte_characters_whole(server):
    text = "Grüße 🙂 from 東京, naïve café"
    messages = [{"role": "user", "content": text}]
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{server}/stream", json={"messages": messages}) as response,
    ):
        raw = b"".join(response.iter_raw())
    frames = raw.split(b"\n\n")
    for frame in frames:
        frame.decode("utf-8")  # strict: every frame is whole UTF-8 on its own
    texts = [json.loads(f[6:])["response"] for f in frames if f.startswith(b"data: {")]
    assert "".join(texts) == text
