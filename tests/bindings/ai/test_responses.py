"""The Responses-API models (gpt-oss): inputs, the Response object, its event stream, tool
round trips, the stand-in, and `/ai/v1/responses` through the openai SDK."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from openai import OpenAI

from bindings.ai import responses
from bindings.ai.catalogue import load_catalogue
from bindings.ai.engines.llamacpp import LlamaCppEngine
from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.errors import AiError
from bindings.ai.rest import create_app
from bindings.ai.service import AiService
from tests.bindings.ai.rest.support import ACCOUNT
from tests.fakes.loopback import serve

GPT = "@cf/openai/gpt-oss-120b"
CALL = '{"name": "getWeather", "arguments": {"city": "London"}}'
WEATHER = {"type": "function", "name": "getWeather", "description": "The weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


def scripted(*replies: str) -> tuple[AiService, ScriptedEngine]:
    engine = ScriptedEngine(replies=list(replies)) if replies else ScriptedEngine()
    service = AiService(load_catalogue())
    service.set_engine("*", engine)
    return service, engine


def test_only_the_gpt_oss_records_take_responses_input():
    catalogue = load_catalogue()
    names = sorted(e.name for e in catalogue.entries() if responses.takes_responses(e))
    assert names == ["@cf/openai/gpt-oss-120b", "@cf/openai/gpt-oss-20b"]


def test_input_items_become_messages():
    items = [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "call_1", "name": "getWeather",
         "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "12C"},
    ]
    assert responses.to_messages("Be brief.", items) == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "getWeather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12C"},
    ]
    assert responses.to_messages(None, "Hi") == [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(("inputs", "words"), [
    ({"input": "Hi", "max_output_tokens": 0}, "minimum at '/max_output_tokens'"),
    ({"input": "Hi", "temperature": "hot"}, "Type mismatch of '/temperature'"),
    ({"input": "Hi", "stream": "yes"}, "Type mismatch of '/stream'"),
    ({"input": "Hi", "previous_response_id": "resp_1"}, "send the whole conversation"),
    ({"input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "data:image/png;base64,AA"}]}]},
     "the local model reads text"),
    ({"input": "Hi", "tools": [{"type": "web_search"}]}, "only function tools"),
    ({"input": "Hi", "reasoning": {"effort": "extreme"}}, "enum at '/reasoning/effort'"),
    ({"instructions": "no input"}, "required properties"),
])
async def test_bad_inputs_are_5006_and_never_reach_the_engine(inputs, words):
    service, engine = scripted()
    with pytest.raises(AiError) as caught:
        await service.run(GPT, inputs)
    assert caught.value.code == 5006 and words in caught.value.description
    assert engine.requests == []


async def test_a_response_object_with_the_reply_as_output_text():
    service, engine = scripted("Bonjour.")
    result = await service.run(GPT, {"instructions": "Be brief.", "input": "Say hello",
                                     "reasoning": {"effort": "low"}, "max_output_tokens": 50})
    assert result["object"] == "response" and result["id"].startswith("resp_")
    assert result["status"] == "completed" and result["model"] == GPT
    [item] = result["output"]
    assert item["type"] == "message" and item["role"] == "assistant"
    assert item["content"][0] == {"type": "output_text", "text": "Bonjour.", "annotations": [],
                                  "logprobs": []}
    assert result["usage"]["output_tokens"] == 1
    assert result["usage"]["total_tokens"] == (result["usage"]["input_tokens"] + 1)
    assert result["instructions"] == "Be brief." and result["reasoning"]["effort"] == "low"
    sent = engine.requests[-1]
    assert sent.messages[0] == {"role": "system", "content": "Be brief."}
    assert sent.max_tokens == 50 and sent.reasoning_effort == "low"


async def test_a_reply_cut_by_max_output_tokens_is_incomplete():
    service, _ = scripted("one two three four")
    result = await service.run(GPT, {"input": "Count", "max_output_tokens": 2})
    assert result["status"] == "incomplete"
    assert result["incomplete_details"] == {"reason": "max_output_tokens"}


async def test_function_call_round_trip():
    service, engine = scripted(CALL, "It is 14C in London.")
    first = await service.run(GPT, {"input": "Weather in London?", "tools": [WEATHER]})
    [call] = first["output"]
    assert call["type"] == "function_call" and call["name"] == "getWeather"
    assert json.loads(call["arguments"]) == {"city": "London"}
    history = ["Weather in London?", call,
               {"type": "function_call_output", "call_id": call["call_id"], "output": "14C"}]
    history[0] = {"role": "user", "content": history[0]}
    second = await service.run(GPT, {"input": history, "tools": [WEATHER]})
    assert second["output"][0]["content"][0]["text"] == "It is 14C in London."
    sent = engine.requests[-1].messages
    assert sent[1]["tool_calls"][0]["id"] == call["call_id"]
    assert sent[2] == {"role": "tool", "tool_call_id": call["call_id"], "content": "14C"}


async def test_the_stream_is_openais_event_sequence():
    service, _ = scripted("Hello there")
    stream = await service.run(GPT, {"input": "Hi", "stream": True})
    frames = [frame.decode() async for frame in stream]
    kinds = [frame.split("\n", 1)[0].removeprefix("event: ") for frame in frames]
    assert kinds == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed",
    ]
    datas = [json.loads(frame.split("data: ", 1)[1]) for frame in frames]
    assert [d["sequence_number"] for d in datas] == list(range(len(datas)))
    assert "".join(d["delta"] for d in datas if "delta" in d) == "Hello there"
    assert datas[-1]["response"]["output"][0]["content"][0]["text"] == "Hello there"


async def test_an_engine_failure_mid_stream_is_an_error_event():
    engine = ScriptedEngine(text="one two three", fail_after=1)
    service = AiService(load_catalogue())
    service.set_engine("*", engine)
    stream = await service.run(GPT, {"input": "Hi", "stream": True})
    frames = [frame.decode() async for frame in stream]
    assert frames[-1].startswith("event: error\n")
    assert json.loads(frames[-1].split("data: ", 1)[1])["code"] == "3043"


@pytest.mark.llama
def test_the_stand_in_serves_gpt_oss():
    service = AiService(load_catalogue())
    service.set_engine("*", LlamaCppEngine())

    async def go():
        try:
            return await service.run(GPT, {"instructions": "You are terse.", "input": "Hi!",
                                           "max_output_tokens": 8, "temperature": 0})
        finally:
            await service.close()

    result = asyncio.run(go())
    assert result["status"] in ("completed", "incomplete")
    text = result["output"][0]["content"][0]["text"]
    assert text.strip() and 0 < result["usage"]["output_tokens"] <= 8


# --- /ai/v1/responses through the openai SDK ----------------------------------------------


@pytest.fixture
def api():
    """A client of a fresh server whose scripted replies cycle from the first."""
    engine = ScriptedEngine(replies=["Hello from the stand-in", CALL, "It is 14C."])
    service = AiService(load_catalogue())
    service.set_engine("*", engine)
    with serve(create_app(service)) as server:
        yield OpenAI(api_key="unused", max_retries=0,
                     base_url=f"{server.url}/client/v4/accounts/{ACCOUNT}/ai/v1")


def test_openai_sdk_responses_create(api):
    response = api.responses.create(model=GPT, instructions="Be brief.", input="Hi",
                                    reasoning={"effort": "low"})
    assert response.output_text == "Hello from the stand-in"
    assert response.status == "completed" and response.usage.output_tokens == 4
    first = api.responses.create(model=GPT, input="Weather in London?", tools=[WEATHER])
    [call] = [item for item in first.output if item.type == "function_call"]
    second = api.responses.create(model=GPT, tools=[WEATHER], input=[
        {"role": "user", "content": "Weather in London?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "14C"}])
    assert second.output_text == "It is 14C."


def test_openai_sdk_responses_stream(api):
    events = list(api.responses.create(model=GPT, input="Hi", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == events[-1].response.output_text == "Hello from the stand-in"
    with api.responses.stream(model=GPT, input="Hi", tools=[WEATHER]) as stream:
        final = stream.get_final_response()
    [call] = final.output  # the next scripted reply is a call
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "London"}


def test_a_chat_model_on_v1_responses_is_a_clear_400(api):
    with pytest.raises(openai.BadRequestError) as caught:
        api.responses.create(model="@cf/meta/llama-3.1-8b-instruct", input="Hi")
    assert "/v1/chat/completions" in caught.value.message
