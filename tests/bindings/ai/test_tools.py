"""Function calling: tools offered, calls read back, full round trips on the scripted
engine, the stand-in's prompt, the fake vLLM server and the OpenAI SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai import OpenAI

from bindings.ai import tools
from bindings.ai.catalogue import load_catalogue
from bindings.ai.chat_templates import jinja_format
from bindings.ai.engines.base import ToolCall, Usage
from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.errors import AiError
from bindings.ai.rest import create_app
from bindings.ai.routing import RouteLayer, RouteTable, parse_routes
from bindings.ai.service import AiService
from tests.bindings.ai.rest.support import ACCOUNT
from tests.fakes.fake_vllm import FakeVllm
from tests.fakes.loopback import serve

MODEL = "@cf/meta/llama-3.1-8b-instruct"
FIXTURES = Path(__file__).parent / "template_fixtures"
WEATHER = {
    "name": "getWeather",
    "description": "Return the weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city"}},
        "required": ["city"],
    },
}
OPENAI_WEATHER = {"type": "function", "function": WEATHER}
ASK = [{"role": "user", "content": "What is the weather in London?"}]
CALL = '{"name": "getWeather", "arguments": {"city": "London"}}'


def offered() -> list[dict]:
    return tools.normalize([WEATHER])


# --- normalize, parse ----------------------------------------------------------------------


def test_both_tool_shapes_and_legacy_functions_normalize_to_openai_tools():
    flat, wrapped = tools.normalize([WEATHER]), tools.normalize([OPENAI_WEATHER])
    assert flat == wrapped == [OPENAI_WEATHER]
    legacy = tools.normalize(None, [{"name": "add", "code": "return a + b"}])
    assert legacy == [{"type": "function", "function": {
        "name": "add", "parameters": {"type": "object", "properties": {}}}}]


@pytest.mark.parametrize("reply", [
    CALL,
    f"```json\n{CALL}\n```",
    f"<tool_call>\n{CALL}\n</tool_call>",
    f"[TOOL_CALLS] [{CALL}]",
    '<|python_tag|>{"name": "getWeather", "parameters": {"city": "London"}}<|eom_id|>',
    '{"type": "function", "function": {"name": "getWeather", '
    '"arguments": "{\\"city\\": \\"London\\"}"}}',
])
def test_calls_are_read_bare_and_in_the_common_wrappers(reply):
    assert tools.parse(reply, offered()) == [ToolCall("getWeather", {"city": "London"})]


def test_several_calls_in_an_array_or_in_several_tags():
    two = tools.parse(f"[{CALL}, {CALL}]", offered())
    tagged = tools.parse(f"<tool_call>{CALL}</tool_call>\n<tool_call>{CALL}</tool_call>",
                         offered())
    assert two == tagged and len(two) == 2


@pytest.mark.parametrize("reply", [
    "It is sunny in London.",
    '{"name": "getTime", "arguments": {}}',  # not an offered tool
    '{"name": "getWeather", "arguments": [1, 2]}',  # arguments not an object
    f"Sure! {CALL}",  # text around the JSON
    f"{CALL} and more text",
    '{"name": "getWeather", "arguments": {"city": "Lon',  # cut short
    "[1, 2, 3]",
    "",
])
def test_a_reply_that_is_not_a_valid_call_stays_text(reply):
    assert tools.parse(reply, offered()) is None


def test_tool_choice_none_offers_nothing_and_a_named_one_only_it():
    both = tools.normalize([WEATHER, {**WEATHER, "name": "getTime"}])
    assert tools.choose(both, "none") == []
    chosen = tools.choose(both, {"type": "function", "function": {"name": "getTime"}})
    assert [t["function"]["name"] for t in chosen] == ["getTime"]
    with pytest.raises(AiError) as caught:
        tools.choose(both, {"type": "function", "function": {"name": "nope"}})
    assert caught.value.code == 5006


def test_the_instruction_opens_the_system_message_and_past_calls_become_json():
    history = [
        {"role": "system", "content": "Be brief."},
        *ASK,
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "getWeather", "arguments": '{"city": "London"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "14C, rain"},
    ]
    shown = tools.prompt_messages(history, offered(), None)
    assert shown[0]["content"].startswith("You can call these functions")
    assert shown[0]["content"].endswith("\n\nBe brief.")
    assert '"getWeather"' in shown[0]["content"]
    assert json.loads(shown[2]["content"]) == {"name": "getWeather",
                                              "arguments": {"city": "London"}}
    assert "tool_calls" not in shown[2]
    assert shown[3] == history[3]


def test_openai_messages_give_cloudflare_calls_ids_and_tool_results_their_id():
    history = [*ASK, {"role": "assistant", "content": "",
                      "tool_calls": [{"name": "getWeather", "arguments": {"city": "London"}}]},
               {"role": "tool", "content": "14C"}]
    out = tools.openai_messages(history)
    call = out[1]["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"] == "getWeather"
    assert json.loads(call["function"]["arguments"]) == {"city": "London"}
    assert out[2]["tool_call_id"] == call["id"]


async def _items(source):
    return [item async for item in source]


async def _engine(*items):
    for item in items:
        yield item


async def test_split_calls_streams_text_at_once_and_holds_a_possible_call():
    text = await _items(tools.split_calls(
        _engine("It", " is", " sunny", Usage(3, 3)), offered()))
    assert text == ["It", " is", " sunny", Usage(3, 3)]
    call = await _items(tools.split_calls(
        _engine(" {", '"name": "getWeather", ', '"arguments": {"city": "London"}}',
                Usage(3, 3)), offered()))
    assert call == [ToolCall("getWeather", {"city": "London"}), Usage(3, 3)]
    almost = await _items(tools.split_calls(_engine("{not json", Usage(1, 1)), offered()))
    assert almost == ["{not json", Usage(1, 1)]


# --- through env.AI.run --------------------------------------------------------------------


def scripted(*replies: str) -> tuple[AiService, ScriptedEngine]:
    engine = ScriptedEngine(replies=list(replies))
    service = AiService(load_catalogue())
    service.set_engine("*", engine)
    return service, engine


async def test_round_trip_call_tool_message_answer_on_the_scripted_engine():
    service, engine = scripted(CALL, "It is 14C and raining in London.")
    first = await service.run(MODEL, {"messages": ASK, "tools": [WEATHER]})
    assert first["response"] is None  # as Cloudflare returns a call
    assert first["tool_calls"] == [{"name": "getWeather", "arguments": {"city": "London"}}]
    assert first["usage"]["completion_tokens"] > 0
    assert engine.requests[-1].tools == [OPENAI_WEATHER]
    assert "You can call these functions" in engine.requests[-1].prompt
    history = [*ASK, {"role": "assistant", "content": "", "tool_calls": first["tool_calls"]},
               {"role": "tool", "name": "getWeather", "content": "14C, rain"}]
    second = await service.run(MODEL, {"messages": history, "tools": [WEATHER]})
    assert second["response"] == "It is 14C and raining in London."
    assert second["tool_calls"] == []
    prompt = engine.requests[-1].prompt
    assert '{"name": "getWeather", "arguments": {"city": "London"}}' in prompt
    assert "14C, rain" in prompt


async def test_without_tools_the_output_has_no_tool_calls_key():
    service, _ = scripted(CALL)
    result = await service.run(MODEL, {"messages": ASK})
    assert result == {"response": CALL, "usage": result["usage"]}


async def test_streamed_calls_come_in_one_frame_before_usage():
    service, _ = scripted(CALL)
    stream = await service.run(MODEL, {"messages": ASK, "tools": [WEATHER], "stream": True})
    frames = [frame async for frame in stream]
    assert frames[0] == (b'data: {"response":"","tool_calls":[{"name":"getWeather",'
                         b'"arguments":{"city":"London"}}]}\n\n')
    assert b'"usage"' in frames[1] and frames[-1] == b"data: [DONE]\n\n"


async def test_the_stand_ins_template_gets_the_generic_instruction():
    """SmolLM2's own template has no tools: the instruction goes in its system turn."""
    from bindings.ai.engines.gguf import GgufInfo, bundled_gguf
    from bindings.ai.tasks.text_generation import build_request

    info = GgufInfo.from_file(bundled_gguf())
    fmt = jinja_format(info.chat_template, bos_token=info.bos_token, eos_token=info.eos_token)
    assert not fmt.supports_tools
    request = build_request(MODEL, {"messages": ASK, "tools": [WEATHER]}, fmt)
    assert request.prompt.startswith("<|im_start|>system\nYou can call these functions")


def test_a_template_that_renders_tools_gets_them_as_its_variable():
    from bindings.ai.tasks.text_generation import build_request

    fmt = jinja_format((FIXTURES / "llama-3.3-instruct.jinja").read_text(),
                       bos_token="<|begin_of_text|>")
    assert fmt.supports_tools
    request = build_request(MODEL, {"messages": ASK, "tools": [WEATHER]}, fmt)
    assert "You can call these functions" not in request.prompt
    assert '"name": "getWeather"' in request.prompt  # the template's own tool block
    assert "Given the following functions" in request.prompt


# --- vLLM -----------------------------------------------------------------------------------


@pytest.fixture
def vllm():
    fake = FakeVllm(model="meta-llama/Llama-3.1-8B-Instruct", tool_parser="llama3_json")
    fake.chat_template = (FIXTURES / "llama-3.3-instruct.jinja").read_text()
    fake.reply = "It is 14C and raining in London."
    with serve(fake.app()) as server:
        route = parse_routes([f"{MODEL}=vllm:{server.url},model={fake.model}"])
        yield fake, AiService(load_catalogue(), RouteTable([RouteLayer("cli", tuple(route))],
                                                          None))


async def test_round_trip_through_vllms_chat_endpoint(vllm):
    fake, service = vllm
    try:
        first = await service.run(MODEL, {"messages": ASK, "tools": [WEATHER]})
        sent = fake.requests[-1]
        history = [*ASK, {"role": "assistant", "content": "", "tool_calls": first["tool_calls"]},
                   {"role": "tool", "content": "14C, rain"}]
        second = await service.run(MODEL, {"messages": history, "tools": [WEATHER]})
        again = fake.requests[-1]
    finally:
        await service.close()
    assert sent["tools"] == [OPENAI_WEATHER]
    assert first["response"] is None
    assert first["tool_calls"] == [{"name": "getWeather", "arguments": {"city": "London"}}]
    call = again["messages"][1]["tool_calls"][0]
    assert call["function"] == {"name": "getWeather", "arguments": '{"city": "London"}'}
    assert again["messages"][2]["tool_call_id"] == call["id"]
    assert second["response"] == "It is 14C and raining in London."


async def test_vllm_without_a_tool_parser_is_a_clear_5006(vllm):
    fake, service = vllm
    fake.tool_parser = None
    try:
        with pytest.raises(AiError) as caught:
            await service.run(MODEL, {"messages": ASK, "tools": [WEATHER]})
    finally:
        await service.close()
    assert "--enable-auto-tool-choice" in caught.value.description


# --- the OpenAI SDK -------------------------------------------------------------------------


@pytest.fixture
def tool_api():
    engine = ScriptedEngine(replies=[CALL, "It is 14C and raining in London."])
    service = AiService(load_catalogue())
    service.set_engine("*", engine)
    with serve(create_app(service)) as server:
        client = OpenAI(api_key="unused", max_retries=0,
                        base_url=f"{server.url}/client/v4/accounts/{ACCOUNT}/ai/v1")
        yield client, engine


def _round_trip(client, stream: bool):
    def ask(messages):
        return client.chat.completions.create(
            model=MODEL, messages=messages, tools=[OPENAI_WEATHER], stream=stream)

    first = ask(ASK)
    if stream:
        chunks = list(first)
        calls = [c for chunk in chunks for c in (chunk.choices[0].delta.tool_calls or [])
                 if chunk.choices]
        finish = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1]
    else:
        calls, finish = first.choices[0].message.tool_calls, first.choices[0].finish_reason
        assert first.choices[0].message.content is None
    assert finish == "tool_calls"
    assert len(calls) == 1 and calls[0].type == "function" and calls[0].id
    assert calls[0].function.name == "getWeather"
    assert json.loads(calls[0].function.arguments) == {"city": "London"}
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [{
        "id": calls[0].id, "type": "function",
        "function": {"name": "getWeather", "arguments": calls[0].function.arguments}}]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "14C, rain"}]
    second = ask(history)
    if stream:
        text = "".join(chunk.choices[0].delta.content or "" for chunk in second
                       if chunk.choices)
    else:
        text = second.choices[0].message.content
        assert second.choices[0].finish_reason == "stop"
    assert text == "It is 14C and raining in London."


def test_openai_sdk_tool_round_trip(tool_api):
    client, engine = tool_api
    _round_trip(client, stream=False)
    assert "14C, rain" in engine.requests[-1].prompt


def test_openai_sdk_tool_round_trip_streamed(tool_api):
    _round_trip(tool_api[0], stream=True)


def test_openai_tool_choice_none_reaches_the_engine_as_no_tools(tool_api):
    client, engine = tool_api
    client.chat.completions.create(model=MODEL, messages=ASK, tools=[OPENAI_WEATHER],
                                   tool_choice="none")
    assert engine.requests[-1].tools is None
