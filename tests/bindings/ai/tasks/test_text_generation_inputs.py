"""Every Text Generation record: its inputs accounted for, bad ones refused before any
engine, and its answer (scripted) valid against its own published output schema."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from bindings.ai.catalogue import load_catalogue
from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.errors import AiError
from bindings.ai.service import AiService
from bindings.ai.tasks import text_generation_inputs

CATALOGUE = load_catalogue()
RECORDS = sorted({e.name: e for e in CATALOGUE.entries()
                  if e.task_name == "Text Generation"}.values(), key=lambda e: e.name)
CALL = '{"name": "getWeather", "arguments": {"city": "London"}}'
WEATHER = {"name": "getWeather", "description": "The weather of a city",
           "parameters": {"type": "object", "properties": {
               "city": {"type": "string", "description": "The city"}}, "required": ["city"]}}
OPENAI_WEATHER = {"type": "function", "function": WEATHER}  # the shape every schema takes


def minimal(entry) -> dict | None:
    takes = text_generation_inputs.declared(entry.input_schema)
    if "messages" in takes or not entry.has_schema:
        return {"messages": [{"role": "user", "content": "Hello there"}]}
    if "prompt" in takes:
        return {"prompt": "Hello there"}
    if "input" in takes:
        return {"input": "Hello there"}
    return None  # Clef's decision models


def json_output(entry) -> dict:
    schema = entry.output_schema or {}
    branches = schema.get("oneOf") or schema.get("anyOf") or [schema]
    for branch in branches:
        if branch.get("type") == "object":
            return branch
    return {}


@pytest.fixture(scope="module")
def service():
    service = AiService(CATALOGUE)
    service.set_engine("*", ScriptedEngine(text="Hi from the script"))
    return service


def test_the_survey_counts_every_record_and_the_table_covers_every_input():
    counts = text_generation_inputs.survey(CATALOGUE)
    assert len(RECORDS) == 71  # 72 records, two of which share a name
    assert counts["messages"] >= 60 and counts["tools"] >= 60
    assert set(counts) <= set(text_generation_inputs.INPUTS), set(counts) - set(
        text_generation_inputs.INPUTS)


@pytest.mark.parametrize("entry", RECORDS, ids=lambda e: e.name)
async def test_the_answer_matches_the_records_output_schema(entry, service):
    inputs = minimal(entry)
    if inputs is None:
        with pytest.raises(AiError) as caught:
            selector = entry.name.rsplit("/", 1)[-1]
            await service.run(entry.name, {"model": selector, "state": "x", "questions": {
                "q": {"type": "noul", "instructions": "Is it?"}}})
        assert caught.value.code == 5007 and "no local engine" in caught.value.description
        return
    result = await service.run(entry.name, inputs)
    jsonschema.validate(result, json_output(entry))
    text = (result.get("response") or (result.get("choices") or [{}])[0].get("message", {})
            .get("content") or result.get("output", [{}])[0].get("content", [{}])[0]["text"])
    assert text == "Hi from the script"


@pytest.mark.parametrize("entry", [e for e in RECORDS
                                   if "tools" in text_generation_inputs.declared(e.input_schema)],
                         ids=lambda e: e.name)
async def test_tool_calls_match_the_schema_but_for_the_null_response(entry):
    """Cloudflare answers a call with `"response": null` (OpenAI with `content: null`),
    which the published schemas (`string`) do not allow: checked with that one difference."""
    service = AiService(CATALOGUE)
    service.set_engine("*", ScriptedEngine(text=CALL))
    result = await service.run(entry.name, {**minimal(entry), "tools": [OPENAI_WEATHER]})
    schema = copy.deepcopy(json_output(entry))
    if "response" in schema.get("properties", {}):
        assert result["response"] is None
        schema["properties"]["response"] = {"type": ["string", "null"]}
        assert result["tool_calls"] == [{"name": "getWeather",
                                         "arguments": {"city": "London"}}]
    else:  # OpenAI's `content: null` beside tool calls; some of these schemas say string
        call = result["choices"][0]["message"]["tool_calls"][0]
        assert call["function"]["name"] == "getWeather"
        assert result["choices"][0]["message"]["content"] is None
        result = copy.deepcopy(dict(result))
        result["choices"][0]["message"]["content"] = ""
    jsonschema.validate(result, schema)


@pytest.mark.parametrize("entry", RECORDS, ids=lambda e: e.name)
async def test_schema_violations_are_5006_and_never_reach_an_engine(entry):
    if not entry.has_schema:
        pytest.skip("published without a schema: nothing to violate")
    engine = ScriptedEngine()
    service = AiService(CATALOGUE)
    service.set_engine("*", engine)
    bad = {**(minimal(entry) or {"state": "x"}), "stream": "yes", "max_tokens": "many",
           "questions": 7}
    with pytest.raises(AiError) as caught:
        await service.run(entry.name, bad)
    assert caught.value.code == 5006
    assert engine.requests == []


@pytest.mark.parametrize(("inputs", "words"), [
    ({"n": 2}, "one choice per request"),
    ({"logprobs": True}, "log probabilities"),
    ({"modalities": ["text", "audio"]}, "text only"),
    ({"web_search_options": {}}, "web search"),
])
async def test_inputs_no_local_engine_honours_are_5006(inputs, words):
    engine = ScriptedEngine()
    service = AiService(CATALOGUE)
    service.set_engine("*", engine)
    with pytest.raises(AiError) as caught:
        await service.run("@cf/zai-org/glm-4.7-flash",
                          {"messages": [{"role": "user", "content": "Hi"}], **inputs})
    assert caught.value.code == 5006 and words in caught.value.description
    assert engine.requests == []


async def test_an_image_on_a_text_only_engine_is_a_clear_5006():
    engine = ScriptedEngine()
    service = AiService(CATALOGUE)
    service.set_engine("*", engine)
    with pytest.raises(AiError) as caught:
        await service.run("@cf/meta/llama-3.2-11b-vision-instruct",
                          {"prompt": "What is this?", "image": [1, 2, 3]})
    assert caught.value.code == 5006 and "read text only" in caught.value.description
    assert engine.requests == []


async def test_chat_completion_models_answer_and_stream_in_that_shape(service):
    model = "@cf/moonshotai/kimi-k2.5"
    result = await service.run(model, {"messages": [{"role": "user", "content": "Hi"}],
                                       "max_completion_tokens": 2})
    assert result["object"] == "chat.completion"
    assert result["choices"][0]["message"]["content"] == "Hi from"
    assert result["choices"][0]["finish_reason"] == "length"
    stream = await service.run(model, {"messages": [{"role": "user", "content": "Hi"}],
                                       "stream": True,
                                       "stream_options": {"include_usage": False}})
    frames = [frame async for frame in stream]
    assert all(b'"chat.completion.chunk"' in frame for frame in frames[:-1])
    assert b'"usage"' not in b"".join(frames) and frames[-1] == b"data: [DONE]\n\n"
