"""Testing the chat worker in-process with edge's pytest plugin (`pytest
examples/workers/chat`), with the scripted engine echoing the last message back.
(The same worker end to end through `edge dev`: tests/e2e/test_chat_example.py.)"""

import json

import pytest

MESSAGES = [{"role": "user", "content": "Why is pizza so good?"}]
ECHO = "*=scripted:echo"  # every model answers with the last user message


async def call(worker, path, body=None, method="POST"):
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    return await worker.fetch(path, method=method, body=data)


async def test_json_reply(edge_worker):
    response = await call(edge_worker(ai=ECHO), "/", {"messages": MESSAGES})
    assert response.status == 200
    body = await response.json()
    assert body["response"] == "Why is pizza so good?"
    assert body["usage"]["completion_tokens"] == 5


async def test_default_conversation_on_get(edge_worker):
    body = await (await call(edge_worker(ai=ECHO), "/", method="GET")).json()
    assert body["response"] == "What is the origin of the phrase Hello, World"


async def test_stream_reply(edge_worker):
    response = await call(edge_worker(ai=ECHO), "/stream", {"messages": MESSAGES})
    assert response.headers.get("content-type") == "text/event-stream"
    text = await response.text()
    assert text.startswith('data: {"response":"Why"}\n\n')
    assert text.endswith("data: [DONE]\n\n")


async def test_scripted_reply_and_the_call_it_saw(edge_worker, ai_script):
    ai_script.set("@hf/thebloke/llama-2-13b-chat-awq", "Cheese.")
    body = await (await call(edge_worker(), "/", {"messages": MESSAGES})).json()
    assert body["response"] == "Cheese."
    assert ai_script.last_call.messages[-1]["content"] == "Why is pizza so good?"


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
async def test_bad_requests_get_clear_errors(edge_worker, path, body, method, status, fragment):
    response = await call(edge_worker(ai=ECHO), path, body, method)
    assert response.status == status
    assert fragment in (await response.json())["error"]
