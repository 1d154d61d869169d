"""How to test a worker that calls Workers AI: script the model's replies per test with
the `ai_script` fixture (edge's pytest plugin), or run the real embedded model.

The AI binding stays real: inputs are validated against the model's schema (5006) before
any script runs, and replies come back in Cloudflare's shapes (JSON or SSE frames).
"""

import pytest

from emulator.testing import AiError, stream

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"
ASK = {"messages": [{"role": "user", "content": "Why is the sky blue?"}], "max_tokens": 64}


async def test_reply_and_what_the_worker_sent(edge_worker, ai_script):
    ai_script.set(MODEL, "Rayleigh scattering.")
    response = await edge_worker().fetch("/", json=ASK)
    assert response.status == 200
    body = await response.json()
    assert body["response"] == "Rayleigh scattering."
    assert body["usage"]["completion_tokens"] == 2

    call = ai_script.last_call
    assert call.model == MODEL
    assert call.inputs == {"messages": ASK["messages"], "max_tokens": 64}


async def test_get_uses_the_default_conversation(edge_worker, ai_script):
    ai_script.set(MODEL, lambda inputs: f"{len(inputs['messages'])} messages")
    body = await (await edge_worker().fetch("/")).json()
    assert body["response"] == "2 messages"


async def test_streamed_reply_frame_by_frame(edge_worker, ai_script):
    ai_script.set(MODEL, stream(["The ", "sky ", "is ", "blue."]))
    response = await edge_worker().fetch("/stream", json=ASK)
    assert response.headers.get("content-type") == "text/event-stream"
    texts = []
    async for event in response.iter_sse():
        if event.data == "[DONE]":
            break
        texts.append(event.json()["response"])
    assert texts == ["The ", "sky ", "is ", "blue.", ""]  # the last frame carries usage
    assert ai_script.last_call.stream


@pytest.mark.parametrize("code", [3040, 3007])
async def test_ai_outage_becomes_a_502(edge_worker, ai_script, code):
    ai_script.set(MODEL, AiError(code))
    response = await edge_worker().fetch("/", json=ASK)
    assert response.status == 502
    assert (await response.json())["error"].startswith(f"{code}: ")


async def test_mid_stream_failure_ends_with_an_error_event(edge_worker, ai_script):
    ai_script.set(MODEL, stream(["Half an ans"], error=AiError(3040)))
    events = [e async for e in (await edge_worker().fetch("/stream", json=ASK)).iter_sse()]
    assert events[0].json() == {"response": "Half an ans"}
    assert events[-1].event == "error" and events[-1].json()["code"] == 3040


async def test_invalid_inputs_are_rejected_before_the_model(edge_worker, ai_script):
    ai_script.set(MODEL, "never sent")
    response = await edge_worker().fetch("/", json={"messages": [{"role": "user"}]})
    assert response.status == 400
    assert (await response.json())["error"].startswith("5006: ")
    assert ai_script.last_call.error.code == 5006


async def test_a_conversation_of_several_turns(edge_worker, ai_script):
    ai_script.set(MODEL, ["Hi! I'm a bot.", "Blue, mostly."])
    worker = edge_worker()
    first = await (await worker.fetch("/", json={"messages": [{"role": "user",
                                                                "content": "hello"}]})).json()
    second = await (await worker.fetch("/", json=ASK)).json()
    assert [first["response"], second["response"]] == ["Hi! I'm a bot.", "Blue, mostly."]
    assert len(ai_script.calls) == 2


@pytest.mark.llama
async def test_with_the_real_embedded_model(edge_worker):
    pytest.importorskip("llama_cpp")
    worker = edge_worker(ai="llama")  # the bundled llama.cpp stand-in model, one switch
    response = await worker.fetch("/", json={**ASK, "max_tokens": 8})
    body = await response.json()
    assert response.status == 200
    assert body["response"].strip()
    assert 0 < body["usage"]["completion_tokens"] <= 8
    assert worker.ai_calls[0].model == MODEL
