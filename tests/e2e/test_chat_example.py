"""The chat example end to end through `edge dev` (a subprocess, real HTTP and SSE), with
the scripted engine echoing the last message back. (Its in-process tests, on the public
plugin API only, live with the example: examples/workers/chat/tests/.)"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from tests.support.edge_dev import EdgeDev

pytestmark = pytest.mark.e2e

CHAT = Path(__file__).resolve().parents[2] / "examples" / "workers" / "chat"
MESSAGES = [{"role": "user", "content": "Why is pizza so good?"}]


@pytest.fixture(scope="module")
def server():
    dev = EdgeDev(str(CHAT), "--no-reload", "--ai-route", "*=scripted:echo,delay=0.005")
    try:
        yield dev.start(timeout=60).url
    finally:
        dev.stop()


def test_e2e_json(server):
    response = httpx.post(f"{server}/", json={"messages": MESSAGES}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["response"] == "Why is pizza so good?"


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


def test_e2e_invalid_input_is_400(server):
    response = httpx.post(f"{server}/", json={"messages": [{"role": "user"}]}, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"].startswith("5006: ")


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
