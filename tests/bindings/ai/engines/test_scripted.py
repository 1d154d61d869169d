import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bindings.ai.engines import create_engine
from bindings.ai.engines.base import GenerationRequest, Usage
from bindings.ai.engines.scripted import ScriptedEngine, create, tokenize
from bindings.ai.errors import AiError
from bindings.ai.routing import RouteError, parse_route

MODEL = "@cf/meta/llama-2-7b-chat-fp16"


def request(prompt="the prompt", **fields):
    return GenerationRequest(model=MODEL, prompt=prompt, **fields)


async def run(engine, req):
    items = [item async for item in engine.generate(req)]
    assert isinstance(items[-1], Usage)
    assert not any(isinstance(item, Usage) for item in items[:-1])
    return items[:-1], items[-1]


@given(st.text())
def test_tokens_join_back_to_the_exact_text(text):
    assert "".join(tokenize(text)) == text


def test_tokens_are_words_with_their_leading_whitespace():
    assert tokenize("Hi  there\n") == ["Hi", "  there", "\n"]


async def test_echo_returns_the_last_user_message():
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "second question"},
    ]
    chunks, usage = await run(ScriptedEngine(), request("<templated>", messages=messages))
    assert "".join(chunks) == "second question"
    assert usage == Usage(prompt_tokens=1, completion_tokens=2)


async def test_echo_without_messages_returns_the_prompt():
    chunks, _ = await run(ScriptedEngine(), request("raw prompt text"))
    assert chunks == ["raw", " prompt", " text"]


async def test_replies_cycle_and_text_is_fixed():
    engine = ScriptedEngine(["one", "two"])
    got = ["".join((await run(engine, request()))[0]) for _ in range(3)]
    assert got == ["one", "two", "one"]
    fixed = ScriptedEngine(text="Hello there")
    assert "".join((await run(fixed, request()))[0]) == "Hello there"


async def test_per_model_text_wins():
    engine = ScriptedEngine(text="default", per_model={MODEL: "special"})
    assert "".join((await run(engine, request()))[0]) == "special"
    assert str(engine.describe(MODEL)) == "scripted: fixed text"


async def test_max_tokens_and_stop_cut_the_reply_and_usage_counts_what_was_sent():
    engine = ScriptedEngine(text="a b c d e STOP f g")
    chunks, usage = await run(engine, request(max_tokens=3))
    assert "".join(chunks) == "a b c"
    assert usage.completion_tokens == 3
    chunks, _ = await run(engine, request(stop=["STOP"]))
    assert "".join(chunks) == "a b c d e "


async def test_requests_are_recorded():
    engine = ScriptedEngine()
    req = request(temperature=0.2)
    await run(engine, req)
    assert engine.requests == [req]


async def test_fail_after_raises_mid_stream():
    engine = ScriptedEngine(text="a b c d", fail_after=2)
    seen = []
    with pytest.raises(AiError) as info:
        async for item in engine.generate(request()):
            seen.append(item)
    assert seen == ["a", " b"]
    assert info.value.code == 3043


async def test_closing_the_generator_stops_it():
    engine = ScriptedEngine(text="a b c d", delay=0.001)
    gen = engine.generate(request())
    assert await gen.__anext__() == "a"
    await gen.aclose()
    with pytest.raises(StopAsyncIteration):
        await gen.__anext__()


async def test_delay_is_slept_between_tokens(monkeypatch):
    sleeps = []

    async def fake_sleep(seconds):
        sleeps.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    await run(ScriptedEngine(text="a b c", delay=0.25), request())
    assert sleeps == [0.25, 0.25, 0.25]


def test_create_from_route_args():
    engine = create_engine(parse_route("*=scripted:reply=x,reply=y,delay=0.5"))
    assert isinstance(engine, ScriptedEngine)
    assert (engine.replies, engine.delay) == (["x", "y"], 0.5)
    assert create(parse_route("*=scripted:text=42")).text == "42"
    assert create(parse_route("*=scripted:echo")).mode == "echo"
    assert str(engine.describe(MODEL)) == "scripted: 2 replies, cycled, 0.5s per token"


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("*=scripted:bogus", "scripted has no option 'bogus' (scripted accepts: delay (a number"),
        ("*=scripted:delay=soon", "option delay must be a number >= 0, not 'soon'"),
        ("*=scripted:delay=-1", "option delay must be a number >= 0, not '-1'"),
        ("*=scripted:text=a,text=b", "option text takes one value (a string), not ['a', 'b']"),
    ],
)
def test_bad_args_are_rejected_when_the_route_is_parsed(spec, fragment):
    with pytest.raises(RouteError) as info:
        parse_route(spec)
    assert fragment in str(info.value) and repr(spec) in str(info.value)


async def test_health_close_and_prompt_format():
    engine = ScriptedEngine()
    assert (await engine.health()).ok
    assert engine.prompt_format(MODEL) is None
    await engine.close()
    assert engine.closed
