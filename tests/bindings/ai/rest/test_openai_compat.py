"""The OpenAI-compatible endpoint through the official `openai` SDK, streaming and not."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from bindings.ai.rest import create_app
from bindings.ai.service import AiService
from tests.bindings.ai.rest.support import ACCOUNT, CHAT_MODEL, FP16_MODEL, TOKEN, scripted_service
from tests.fakes.loopback import serve


def client(server, key: str = "unused") -> OpenAI:
    base = f"{server.url}/client/v4/accounts/{ACCOUNT}/ai/v1"
    return OpenAI(api_key=key, base_url=base, max_retries=0)


def user(text: str) -> list[dict]:
    return [{"role": "system", "content": "Be brief"}, {"role": "user", "content": text}]


def test_chat_completion(api_server):
    chat = client(api_server).chat.completions.create(
        model=CHAT_MODEL, messages=user("Make some robot noises")
    )
    assert chat.object == "chat.completion"
    assert chat.id.startswith("chatcmpl-")
    assert chat.model == CHAT_MODEL
    assert len(chat.choices) == 1
    choice = chat.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Make some robot noises"
    assert choice.finish_reason == "stop"
    assert chat.usage.completion_tokens == 4
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + 4


def test_max_tokens_cut_is_a_length_finish(api_server):
    api = client(api_server)
    for key in ("max_tokens", "max_completion_tokens"):
        chat = api.chat.completions.create(
            model=FP16_MODEL, messages=user("one two three four five"), **{key: 2}
        )
        assert chat.choices[0].message.content == "one two"
        assert chat.choices[0].finish_reason == "length"
        assert chat.usage.completion_tokens == 2


def test_streaming_chunks(api_server):
    stream = client(api_server).chat.completions.create(
        model=CHAT_MODEL, messages=user("stream these words please"), stream=True
    )
    chunks = list(stream)
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "stream these words please"
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(chunk.usage is None for chunk in chunks)
    assert len(chunks) >= 5  # role chunk, one per word, the finish chunk


def test_streaming_usage_in_the_last_chunk(api_server):
    stream = client(api_server).chat.completions.create(
        model=CHAT_MODEL,
        messages=user("count me"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.completion_tokens == 2
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_raw_stream_ends_with_done(api_server):
    url = f"{api_server.url}/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
    body = {"model": FP16_MODEL, "messages": user("hi"), "stream": True}
    with httpx.stream("POST", url, json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequences(api_server, stream):
    api = client(api_server)
    kwargs = {"model": FP16_MODEL, "messages": user("alpha beta gamma delta"), "stop": ["mma"]}
    if stream:
        chunks = list(api.chat.completions.create(stream=True, **kwargs))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = chunks[-1].choices[0].finish_reason
    else:
        chat = api.chat.completions.create(**kwargs)
        text, finish = chat.choices[0].message.content, chat.choices[0].finish_reason
    assert text == "alpha beta ga"
    assert finish == "stop"


async def test_stop_goes_down_to_the_engine():
    # No catalogue schema of the seeds declares `stop`: it reaches GenerationRequest.stop
    # all the same (before the template's own end-of-turn marker), so the engine stops.
    from bindings.ai.engines.scripted import ScriptedEngine

    engine = ScriptedEngine(text="one two three four")
    service = AiService.from_settings()
    service.set_engine("*", engine)
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.localhost") as http:
        url = f"/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
        body = {"model": FP16_MODEL, "messages": user("x"), "stop": "three"}
        answer = (await http.post(url, json=body)).json()
    assert engine.requests[-1].stop == ["three", "</s>"]
    assert answer["choices"][0]["message"]["content"] == "one two "
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["completion_tokens"] == 3  # "one", " two", " "


def test_content_parts_and_developer_role(api_server):
    chat = client(api_server).chat.completions.create(
        model=CHAT_MODEL,
        messages=[
            {"role": "developer", "content": "Be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "part one, "},
                    {"type": "text", "text": "part two"},
                ],
            },
        ],
    )
    # one flattener (`chat_templates.flatten_content`): parts joined by "\n", as vLLM does
    assert chat.choices[0].message.content == "part one, \npart two"


async def test_content_parts_reach_the_model_as_env_ai_run_sends_them():
    from bindings.ai.engines.scripted import ScriptedEngine

    engine = ScriptedEngine(text="ok")
    service = AiService.from_settings()
    service.set_engine("*", engine)
    parts = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    messages = [{"role": "user", "content": parts}]
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.localhost") as http:
        url = f"/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
        await http.post(url, json={"model": CHAT_MODEL, "messages": messages})
    await service.run(CHAT_MODEL, {"messages": [{"role": "user", "content": "one\ntwo"}]})
    via_openai, via_run = engine.requests
    assert via_openai.prompt == via_run.prompt


def test_out_of_range_parameters_get_the_binding_validation_error(api_server):
    with pytest.raises(openai.BadRequestError) as caught:
        client(api_server).chat.completions.create(
            model=FP16_MODEL, messages=user("hi"), temperature=9
        )
    error = caught.value.body
    assert caught.value.status_code == 400
    assert error["code"] == 5006
    assert "temperature" in error["message"]
    assert error["type"] == "invalid_request_error"


def test_unknown_model(api_server):
    with pytest.raises(openai.BadRequestError) as caught:
        client(api_server).chat.completions.create(model="gpt-4o", messages=user("hi"))
    assert caught.value.body["code"] == 5007
    assert "gpt-4o" in caught.value.body["message"]


@pytest.mark.parametrize(
    "extra",
    [
        {"n": 2},
        {"stop": 5},
        {"messages": []},
        {"messages": [{"content": "no role"}]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        {"model": None},
        {"stream": "yes"},
    ],
)
def test_bad_requests_are_openai_errors(api_server, extra):
    url = f"{api_server.url}/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
    body = {"model": FP16_MODEL, "messages": user("hi"), **extra}
    response = httpx.post(url, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] and error["type"] == "invalid_request_error"


def test_malformed_json_is_an_openai_error(api_server):
    url = f"{api_server.url}/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
    response = httpx.post(url, content=b"{oops")
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]["message"]


def test_embeddings_say_why_they_are_not_served(api_server):
    with pytest.raises(openai.BadRequestError) as caught:
        client(api_server).embeddings.create(model=FP16_MODEL, input="I love matcha")
    assert "embeddings" in caught.value.body["message"]


def test_paths_cloudflare_does_not_serve_are_404(api_server):
    with pytest.raises(openai.NotFoundError) as caught:
        client(api_server).models.list()
    assert "/v1/chat/completions" in caught.value.body["message"]


def test_wrong_api_key_is_an_authentication_error(secured_server):
    with pytest.raises(openai.AuthenticationError) as caught:
        client(secured_server, "wrong").chat.completions.create(
            model=FP16_MODEL, messages=user("hi")
        )
    assert caught.value.body["code"] == 10000
    chat = client(secured_server, TOKEN).chat.completions.create(
        model=FP16_MODEL, messages=user("let me in")
    )
    assert chat.choices[0].message.content == "let me in"


def test_mid_stream_failure_reaches_the_sdk_as_an_error():
    from bindings.ai.engines.scripted import ScriptedEngine

    service = scripted_service()
    service.set_engine(FP16_MODEL, ScriptedEngine(text="a b c d", fail_after=2))
    with serve(create_app(service)) as server:
        stream = client(server).chat.completions.create(
            model=FP16_MODEL, messages=user("x"), stream=True
        )
        received = []
        with pytest.raises(openai.APIError) as caught:
            for chunk in stream:
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "a b"
    assert "3043" in str(caught.value)


@pytest.mark.llama
def test_embedded_model_through_the_openai_sdk():
    """The default route (the bundled llama.cpp stand-in), streamed and not."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    service = AiService.from_settings()
    with serve(create_app(service)) as server:
        api = client(server)
        chat = api.chat.completions.create(
            model=FP16_MODEL, messages=user("Say hello."), max_tokens=8, seed=7
        )
        assert chat.usage.completion_tokens <= 8
        assert chat.choices[0].message.content
        if chat.usage.completion_tokens == 8:
            assert chat.choices[0].finish_reason == "length"
        chunks = list(
            api.chat.completions.create(
                model=FP16_MODEL,
                messages=user("Say hello."),
                max_tokens=8,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text
        assert chunks[-1].usage.completion_tokens <= 8
