"""Values JSON cannot carry never pass: NaN, lone surrogates, unbounded nesting."""

from __future__ import annotations

import json

import pytest

from bindings.ai import strict_json
from bindings.ai.errors import AiError


@pytest.mark.parametrize(
    "text", ['{"t": NaN}', '{"t": Infinity}', '{"t": -Infinity}', "{not json", '{"a": 1,}']
)
def test_text_that_is_not_json_is_a_syntax_error(text):
    with pytest.raises(strict_json.JsonSyntaxError):
        strict_json.loads(text)


def test_bytes_that_are_not_utf8_are_a_syntax_error():
    with pytest.raises(strict_json.JsonSyntaxError, match="not UTF-8"):
        strict_json.loads(b'{"prompt": "\xff"}')


def test_an_integer_past_pythons_digit_limit_is_a_syntax_error_not_a_crash():
    with pytest.raises(strict_json.JsonSyntaxError):
        strict_json.loads('{"seed": ' + "9" * 5000 + "}")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"prompt": "\\ud800"}', "lone surrogate '\\ud800' at index 0"),
        ('{"messages": [{"role": "user", "content": "ok \\udfff"}]}', "'/messages/0/content'"),
        ('{"\\ud800": 1}', "lone surrogate"),
        ('{"temperature": 1e999}', "'/temperature', 'inf' is not a JSON number"),
        ("[" * 100_000 + "]" * 100_000, "deeper than 64 levels"),
    ],
)
def test_json_no_model_input_can_hold_is_5006(text, fragment):
    with pytest.raises(AiError) as info:
        strict_json.loads(text)
    assert info.value.code == 5006 and fragment in str(info.value)


def test_nesting_is_bounded_at_max_depth_exactly():
    def nested(depth: int) -> dict:
        value: dict = {}
        for _ in range(depth - 1):
            value = {"a": value}
        return value

    strict_json.check_value(nested(strict_json.MAX_DEPTH))
    with pytest.raises(AiError, match="deeper than"):
        strict_json.check_value(nested(strict_json.MAX_DEPTH + 1))


def test_python_values_are_walked_without_recursion():
    deep: list = []
    for _ in range(50_000):  # past the interpreter's recursion limit
        deep = [deep]
    with pytest.raises(AiError, match="deeper than"):
        strict_json.check_value({"prompt": deep})


def test_valid_inputs_pass_unchanged():
    text = json.dumps({"messages": [{"role": "user", "content": "héllo 👋"}], "temperature": 0.5})
    assert strict_json.loads(text) == json.loads(text)
    strict_json.check_value({"image": b"\x00\xff", "steps": 4, "raw": True, "seed": None})
