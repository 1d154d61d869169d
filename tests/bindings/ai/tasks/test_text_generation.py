from types import SimpleNamespace

import pytest

from bindings.ai.chat_templates import get_format
from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.errors import AiError
from bindings.ai.routing import Route
from bindings.ai.tasks.text_generation import (
    DEFAULT_MAX_TOKENS,
    build_request,
    choose_prompt_format,
)

MODEL = "@cf/meta/llama-2-7b-chat-fp16"
LLAMA2 = get_format("llama2")
CHATML = get_format("chatml")


class OwnFormatEngine(ScriptedEngine):
    def prompt_format(self, model):
        return CHATML


def entry(prompt_format="llama2"):
    return SimpleNamespace(name=MODEL, serving=SimpleNamespace(prompt_format=prompt_format,
                                                               chat_template=None))


def test_bare_prompt_is_one_user_turn():
    req = build_request(MODEL, {"prompt": "Hi"}, LLAMA2)
    assert req.prompt == LLAMA2.render([{"role": "user", "content": "Hi"}])
    assert req.messages == [{"role": "user", "content": "Hi"}]
    assert (req.raw, req.stream, req.max_tokens) == (False, False, DEFAULT_MAX_TOKENS)


def test_raw_prompt_is_sent_verbatim():
    req = build_request(MODEL, {"prompt": "<s>[INST] x [/INST]", "raw": True}, None)
    assert req.prompt == "<s>[INST] x [/INST]"
    assert req.messages is None and req.raw


def test_messages_are_rendered_with_the_format_and_copied():
    messages = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}]
    req = build_request(MODEL, {"messages": messages, "stream": True}, LLAMA2)
    assert req.prompt == LLAMA2.render(messages)
    assert req.messages == messages and req.messages[0] is not messages[0]
    assert req.stream


def test_raw_messages_use_plain_concatenation():
    messages = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    req = build_request(MODEL, {"messages": messages, "raw": True}, LLAMA2)
    assert req.prompt == get_format("none").render(messages)


def test_sampling_parameters_are_mapped_and_absent_ones_stay_none():
    inputs = {
        "prompt": "x",
        "max_tokens": 7,
        "temperature": 0.6,
        "top_k": 5,
        "seed": 3,
        "repetition_penalty": 1.1,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.2,
        "top_p": 0.9,
        "lora": "my-lora",
    }
    req = build_request(MODEL, inputs, LLAMA2)
    assert (req.max_tokens, req.temperature, req.top_k, req.seed, req.top_p) == (7, 0.6, 5, 3, 0.9)
    assert (req.repetition_penalty, req.frequency_penalty, req.presence_penalty, req.lora) == (
        1.1,
        0.5,
        0.2,
        "my-lora",
    )
    bare = build_request(MODEL, {"prompt": "x"}, LLAMA2)
    assert (bare.temperature, bare.top_p, bare.top_k, bare.seed, bare.lora) == (None,) * 5


def test_stop_takes_inputs_and_the_templates_end_markers():
    req = build_request(MODEL, {"prompt": "x", "stop": "END"}, CHATML)
    assert req.stop[0] == "END"
    assert set(CHATML.stop) <= set(req.stop)


def test_no_prompt_and_no_messages_is_a_5006():
    with pytest.raises(AiError) as info:
        build_request(MODEL, {"stream": True}, LLAMA2)
    assert info.value.code == 5006


def test_format_choice_route_then_engine_then_catalogue():
    plain = ScriptedEngine()
    own = OwnFormatEngine()
    assert choose_prompt_format(Route(MODEL, "x"), plain, entry()).name == LLAMA2.name
    assert choose_prompt_format(Route(MODEL, "x"), own, entry()) is CHATML
    assert choose_prompt_format(Route(MODEL, "x", prompt_format="none"), own, entry()).name in (
        "none",
        "raw-concat",
    )
    assert choose_prompt_format(Route(MODEL, "x", prompt_format="gguf"), own, entry()) is CHATML


@pytest.mark.parametrize(
    ("route", "serving_format", "fragment"),
    [
        (Route(MODEL, "scripted", prompt_format="gguf"), "llama2", "no template of its own"),
        (Route(MODEL, "scripted", prompt_format="klingon"), "llama2", "klingon"),
        (Route(MODEL, "plain"), None, "no chat template known"),
    ],
)
def test_format_choice_errors_are_clear(route, serving_format, fragment):
    engine = ScriptedEngine() if route.engine == "scripted" else PlainEngine()
    with pytest.raises(AiError) as info:
        choose_prompt_format(route, engine, entry(serving_format))
    assert fragment in str(info.value)


class PlainEngine:
    name = "plain"

    def prompt_format(self, model):
        return None


def served_entry(prompt_format=None):
    return SimpleNamespace(name=MODEL, serving=SimpleNamespace(
        prompt_format=prompt_format, chat_template=SimpleNamespace(repo="r", file="f")))


def test_a_backend_with_its_own_template_gets_the_messages_with_a_fallback_prompt():
    engine = ScriptedEngine()  # applies_chat_template, like a chat endpoint
    messages = [{"role": "user", "content": " Hi "}]
    served = choose_prompt_format(Route(MODEL, "x"), engine, served_entry("llama2"))
    request = build_request(MODEL, {"messages": messages}, served)
    assert request.chat and request.messages == messages
    assert request.prompt == LLAMA2.render(messages) and "</s>" in request.stop
    bare = choose_prompt_format(Route(MODEL, "x"), engine, served_entry(None))
    request = build_request(MODEL, {"prompt": "Hi"}, bare)
    assert request.chat and request.prompt == "" and request.messages[-1]["content"] == "Hi"
    with pytest.raises(AiError) as info:
        build_request(MODEL, {"messages": [{"content": "no role"}]}, bare)
    assert info.value.code == 5006


def test_a_pinned_format_wins_over_the_backends_template():
    pinned = SimpleNamespace(name=MODEL, serving=SimpleNamespace(prompt_format="llama2",
                                                                 chat_template=None))
    fmt = choose_prompt_format(Route(MODEL, "x"), ScriptedEngine(), pinned)
    assert fmt.name == LLAMA2.name
    assert not build_request(MODEL, {"prompt": "Hi"}, fmt).chat
    # and a route's format wins over the backend's template
    forced = choose_prompt_format(Route(MODEL, "x", prompt_format="chatml"), ScriptedEngine(),
                                  served_entry("llama2"))
    assert forced.name == "chatml"
    assert not build_request(MODEL, {"prompt": "Hi"}, forced).chat
