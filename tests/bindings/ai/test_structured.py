"""JSON mode: `response_format` / `guided_json` normalized, enforced on the stand-in by a
grammar, passed to vLLM, and the parsed reply in `response`."""

from __future__ import annotations

import asyncio
import json

import jsonschema
import pytest

from bindings.ai import structured
from bindings.ai.catalogue import load_catalogue
from bindings.ai.engines.llamacpp import LlamaCppEngine
from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.errors import AiError
from bindings.ai.routing import RouteLayer, RouteTable, parse_routes
from bindings.ai.service import AiService
from tests.fakes.fake_vllm import FakeVllm
from tests.fakes.loopback import serve

SCOUT = "@cf/meta/llama-4-scout-17b-16e-instruct"  # declares response_format
QWQ = "@cf/qwen/qwq-32b"  # declares guided_json
COUNTRY = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "big": {"type": "boolean"}},
    "required": ["name", "big"],
}
ASK = [{"role": "user", "content": "Tell me about India."}]


@pytest.mark.parametrize(("inputs", "expected"), [
    ({}, None),
    ({"response_format": {"type": "text"}}, None),
    ({"response_format": {"type": "json_object"}}, {"type": "json_object"}),
    ({"response_format": {"type": "json_schema", "json_schema": COUNTRY}},
     {"type": "json_schema", "schema": COUNTRY}),
    ({"response_format": {"type": "json_schema",  # OpenAI's wrapper
                          "json_schema": {"name": "country", "schema": COUNTRY}}},
     {"type": "json_schema", "schema": COUNTRY}),
    ({"guided_json": COUNTRY}, {"type": "json_schema", "schema": COUNTRY}),
    ({"guided_json": json.dumps(COUNTRY)}, {"type": "json_schema", "schema": COUNTRY}),
])
def test_both_inputs_normalize_to_one_constraint(inputs, expected):
    assert structured.response_format(inputs) == expected


def test_an_unknown_type_or_a_schema_that_is_not_an_object_is_5006():
    for inputs in ({"response_format": {"type": "xml"}}, {"guided_json": "not json"},
                   {"guided_json": [1]}):
        with pytest.raises(AiError) as caught:
            structured.response_format(inputs)
        assert caught.value.code == 5006


def test_grammars_come_from_llama_cpps_converter():
    assert "root" in structured.grammar({"type": "json_object"})
    rules = structured.grammar({"type": "json_schema", "schema": COUNTRY})
    assert 'root ::= "{" space name-kv "," space big-kv "}" space' in rules  # schema order


async def test_a_json_reply_is_the_parsed_value_and_other_text_stays_text():
    engine = ScriptedEngine(replies=['{"name": "India", "big": true}', "not json"])
    service = AiService(load_catalogue())
    service.set_engine("*", engine)
    fmt = {"type": "json_schema", "json_schema": COUNTRY}
    first = await service.run(SCOUT, {"messages": ASK, "response_format": fmt})
    assert first["response"] == {"name": "India", "big": True}
    assert engine.requests[-1].response_format == {"type": "json_schema", "schema": COUNTRY}
    second = await service.run(SCOUT, {"messages": ASK, "response_format": fmt})
    assert second["response"] == "not json"


async def test_guided_json_reaches_the_engine():
    engine = ScriptedEngine(text="{}")
    service = AiService(load_catalogue())
    service.set_engine("*", engine)
    await service.run(QWQ, {"messages": ASK, "guided_json": COUNTRY})
    assert engine.requests[-1].response_format == {"type": "json_schema", "schema": COUNTRY}


async def test_vllm_gets_response_format_on_the_chat_endpoint():
    fake = FakeVllm(model="meta-llama/Llama-4-Scout-17B-16E-Instruct",
                    reply='{"name": "India", "big": true}', chat_template="{{ messages }}")
    with serve(fake.app()) as server:
        route = parse_routes([f"{SCOUT}=vllm:{server.url},model={fake.model}"])
        service = AiService(load_catalogue(), RouteTable([RouteLayer("cli", tuple(route))],
                                                         None))
        try:
            result = await service.run(SCOUT, {
                "messages": ASK, "response_format": {"type": "json_schema",
                                                     "json_schema": COUNTRY}})
        finally:
            await service.close()
    assert fake.requests[-1]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "response", "schema": COUNTRY}}
    assert result["response"] == {"name": "India", "big": True}


@pytest.mark.llama
def test_the_stand_in_writes_valid_json_under_the_grammar():
    """SmolLM2-135M left alone rarely writes this object; the grammar makes every token
    keep it valid, so it parses and validates (greedy, so the test is deterministic)."""
    engine = LlamaCppEngine()
    service = AiService(load_catalogue())
    service.set_engine("*", engine)

    async def go():
        try:
            return await service.run(SCOUT, {
                "messages": ASK, "max_tokens": 48, "temperature": 0,
                "response_format": {"type": "json_schema", "json_schema": COUNTRY}})
        finally:
            await service.close()

    result = asyncio.run(go())
    assert isinstance(result["response"], dict), result
    jsonschema.validate(result["response"], COUNTRY)
