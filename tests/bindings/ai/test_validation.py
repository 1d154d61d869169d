"""Input validation against the two seed schemas: accept/reject, code, message, defaults."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from bindings.ai.catalogue import load_catalogue
from bindings.ai.errors import AiError
from bindings.ai.validation import (
    InputValidator,
    check_inputs,
    ignored_keys,
    validate_inputs,
    validator_for_entry,
)

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
FP16 = "@cf/meta/llama-2-7b-chat-fp16"
CATALOGUE = load_catalogue()
USER = {"role": "user", "content": "hi"}


def entry(name):
    return CATALOGUE.get(name)


# (model, inputs, expected error fragments or None for valid)
CASES = [
    # missing both alternatives
    (AWQ, {}, ["oneOf at '/' not met, 0 matches",
               "required properties at '/' are 'prompt'",
               "required properties at '/' are 'messages'"]),
    (FP16, {"max_tokens": 5}, ["0 matches", "are 'prompt'", "are 'messages'"]),
    # both alternatives given: the schemas have no additionalProperties, so both match
    (AWQ, {"prompt": "a", "messages": [USER]}, ["oneOf at '/' not met, 2 matches",
                                                "'prompt' and 'messages'"]),
    (FP16, {"prompt": "a", "messages": []}, ["2 matches"]),
    # both given, but messages invalid: exactly one branch matches -> valid
    (AWQ, {"prompt": "a", "messages": "x"}, None),
    # wrong types
    (AWQ, {"prompt": 5}, ["Type mismatch of '/prompt', 'integer' not in 'string'"]),
    (AWQ, {"messages": "hello"}, ["Type mismatch of '/messages', 'string' not in 'array'"]),
    (FP16, {"prompt": "a", "stream": "yes"},
     ["Type mismatch of '/stream', 'string' not in 'boolean'"]),
    (FP16, {"prompt": "a", "temperature": "hot"}, ["'/temperature', 'string' not in 'number'"]),
    (AWQ, {"prompt": None}, ["Type mismatch of '/prompt', 'null' not in 'string'"]),
    # booleans are not integers; integral floats are (JSON Schema 2020-12)
    (AWQ, {"prompt": "a", "max_tokens": True}, ["'/max_tokens', 'boolean' not in 'integer'"]),
    (FP16, {"prompt": "a", "max_tokens": 12.5}, ["'/max_tokens', 'number' not in 'integer'"]),
    (FP16, {"prompt": "a", "max_tokens": 256.0}, None),
    (FP16, {"prompt": "a", "seed": 1.0}, None),
    # out-of-range numbers (only the 7B schema declares bounds)
    (FP16, {"prompt": "a", "temperature": 5.01}, ["maximum at '/temperature' not met, 5.01 > 5"]),
    (FP16, {"prompt": "a", "temperature": -0.1}, ["minimum at '/temperature' not met, -0.1 < 0"]),
    (FP16, {"prompt": "a", "temperature": 0}, None),
    (FP16, {"prompt": "a", "temperature": 5}, None),
    (FP16, {"prompt": "a", "top_k": 0}, ["minimum at '/top_k' not met, 0 < 1"]),
    (FP16, {"prompt": "a", "top_k": 51}, ["maximum at '/top_k' not met, 51 > 50"]),
    (FP16, {"prompt": "a", "seed": 10_000_000_000}, ["maximum at '/seed' not met"]),
    (FP16, {"prompt": "a", "seed": 9_999_999_999}, None),
    (FP16, {"messages": [USER], "presence_penalty": 2.5}, ["maximum at '/presence_penalty'"]),
    # string lengths: 4096 (13B) vs 131072 (7B); minLength 1 only on the 7B prompt
    (AWQ, {"prompt": "x" * 4096}, None),
    (AWQ, {"prompt": "x" * 4097}, ["maxLength at '/prompt' not met, length 4097 > 4096"]),
    (FP16, {"prompt": "x" * 4097}, None),
    (FP16, {"prompt": "x" * 131073}, ["maxLength at '/prompt' not met, length 131073 > 131072"]),
    (AWQ, {"messages": [{"role": "user", "content": "y" * 4097}]},
     ["maxLength at '/messages/0/content' not met"]),
    (FP16, {"messages": [{"role": "user", "content": "y" * 131072}]}, None),
    (FP16, {"prompt": ""}, ["minLength at '/prompt' not met, length 0 < 1"]),
    (AWQ, {"prompt": ""}, None),
    # lengths count characters (code points), not bytes
    (AWQ, {"prompt": "é" * 4096}, None),
    # messages shape: [] is valid (no minItems); each item needs role and content
    (AWQ, {"messages": []}, None),
    (FP16, {"messages": [{"role": "user"}]},
     ["required properties at '/messages/0' are 'role,content'"]),
    (FP16, {"messages": [USER, {"content": "x"}]},
     ["required properties at '/messages/1' are 'role,content'"]),
    (AWQ, {"messages": ["hello"]}, ["Type mismatch of '/messages/0', 'string' not in 'object'"]),
    (AWQ, {"messages": [{"role": 1, "content": "x"}]},
     ["Type mismatch of '/messages/0/role', 'integer' not in 'string'"]),
    (AWQ, {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
     ["Type mismatch of '/messages/0/content', 'array' not in 'string'"]),
    (AWQ, {"messages": [{"role": "tool", "content": "x", "name": "f"}]}, None),
    # not an object at all
    (AWQ, "hello", ["Type mismatch of '/', 'string' not in 'object'"]),
    (FP16, ["prompt"], ["Type mismatch of '/', 'array' not in 'object'"]),
    (FP16, None, ["Type mismatch of '/', 'null' not in 'object'"]),
]


@pytest.mark.parametrize(("model", "inputs", "expected"), CASES)
def test_seed_schemas(model, inputs, expected):
    if expected is None:
        out = validate_inputs(entry(model), inputs)
        assert isinstance(out, dict)
        return
    with pytest.raises(AiError) as info:
        validate_inputs(entry(model), inputs)
    err = info.value
    assert err.code == 5006 and err.status == 400
    assert str(err).startswith("5006: Error: ")
    for fragment in expected:
        assert fragment in str(err), str(err)


def test_cloudflare_example_message_word_for_word():
    """The exact message Workers AI returns for mixed content shapes (opencode #30381)."""
    inputs = {"messages": [{"role": "user", "content": ["x"]}, {"role": "assistant"}]}
    with pytest.raises(AiError) as info:
        validate_inputs(entry(AWQ), inputs)
    assert str(info.value) == (
        "5006: Error: oneOf at '/' not met, 0 matches: required properties at '/' are "
        "'prompt', Type mismatch of '/messages/0/content', 'array' not in 'string', "
        "required properties at '/messages/1' are 'role,content'"
    )


def test_defaults_of_the_matched_branch_only():
    prompt = validate_inputs(entry(AWQ), {"prompt": "hi"})
    assert prompt == {"prompt": "hi", "raw": False, "stream": False, "max_tokens": 256}
    chat = validate_inputs(entry(AWQ), {"messages": [USER]})
    # The messages branch of the seed schemas declares no `raw`.
    assert chat == {"messages": [USER], "stream": False, "max_tokens": 256}


def test_given_values_win_over_defaults_and_integral_floats_become_ints():
    out = validate_inputs(entry(FP16), {"prompt": "a", "max_tokens": 64.0, "stream": True})
    assert out["max_tokens"] == 64 and type(out["max_tokens"]) is int
    assert out["stream"] is True


def test_schema_without_temperature_drops_it_and_reports_it():
    inputs = {"prompt": "a", "temperature": 0.2, "top_p": 0.5, "lora": "x"}
    out = validate_inputs(entry(AWQ), inputs)
    assert "temperature" not in out and "lora" not in out
    assert ignored_keys(entry(AWQ), inputs) == ["temperature", "top_p", "lora"]
    assert check_inputs(entry(AWQ), inputs).ignored == ["temperature", "top_p", "lora"]


def test_keys_of_the_other_branch_are_ignored():
    inputs = {"messages": [USER], "raw": True}
    assert "raw" not in validate_inputs(entry(AWQ), inputs)
    assert ignored_keys(entry(AWQ), inputs) == ["raw"]
    assert check_inputs(entry(AWQ), inputs).branch == 1


def test_ignored_keys_of_invalid_inputs_are_those_no_branch_declares():
    assert ignored_keys(entry(FP16), {"extra": 1, "top_k": 0}) == ["extra"]


def test_result_is_a_new_dict_and_messages_are_copies():
    message = dict(USER)
    inputs = {"messages": [message]}
    out = validate_inputs(entry(FP16), inputs)
    out["messages"][0]["content"] = "changed"
    assert message["content"] == "hi" and inputs == {"messages": [message]}


def test_validator_is_compiled_once_per_schema():
    assert validator_for_entry(entry(AWQ)) is validator_for_entry(entry(AWQ))
    assert validator_for_entry(entry(AWQ)) is not validator_for_entry(entry(FP16))
    reloaded = load_catalogue().get(AWQ)
    assert validator_for_entry(reloaded) is validator_for_entry(entry(AWQ))


def test_generic_schema_messages():
    validator = InputValidator({
        "type": "object",
        "properties": {"mode": {"enum": ["a", "b"]}, "tags": {"type": "array", "maxItems": 1}},
        "additionalProperties": False,
    })
    with pytest.raises(AiError) as info:
        validator.check({"mode": "c", "tags": [1, 2], "zz": 1})
    text = str(info.value)
    assert "enum at '/mode' not met, 'c' not in 'a,b'" in text
    assert "maxItems at '/tags' not met, 2 items > 1" in text
    assert "Additional or unevaluated properties '/zz' at '/' not allowed" in text
    assert validator.check({"mode": "a"}).inputs == {"mode": "a"}


# -- the Rust fast path never disagrees with jsonschema, the authority -------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**11) | st.floats(-10, 10, allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from(["prompt", "messages", "raw", "stream", "max_tokens", "temperature",
                         "top_k", "seed", "role", "content", "x"])
_message = st.dictionaries(st.sampled_from(["role", "content", "name"]),
                           st.text(max_size=5) | _json, max_size=3)
_inputs = st.dictionaries(_keys, _json | st.lists(_message, max_size=3), max_size=4)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=_inputs, model=st.sampled_from([AWQ, FP16]))
def test_accepts_exactly_what_jsonschema_accepts(inputs, model):
    schema = entry(model).input_schema
    valid = Draft202012Validator(schema).is_valid(inputs)
    try:
        out = validate_inputs(entry(model), inputs)
    except AiError as err:
        assert not valid and err.code == 5006 and "Error: " in str(err)
    else:
        assert valid
        assert set(out) <= set().union(*(b["properties"] for b in schema["oneOf"]))
