"""JSONC: comments and trailing commas blanked, strings untouched, positions kept."""

from __future__ import annotations

import json

import pytest

from emulator.jsonc import strip_jsonc


def test_strip_jsonc_keeps_positions_and_strings():
    text = '{"a": "//x", // c\n "b": [1, 2,], /* d */ }'
    stripped = strip_jsonc(text)
    assert len(stripped) == len(text)
    assert json.loads(stripped) == {"a": "//x", "b": [1, 2]}
    assert json.loads(strip_jsonc('{"s": "a\\"b,]"}')) == {"s": 'a"b,]'}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1 /* x */}', {"a": 1}),
        ('{"url": "http://x/*y*/"}', {"url": "http://x/*y*/"}),
        ("[1, /* c */ 2 , ]", [1, 2]),
        ('{"a": [\n  1, // one\n  2, // two\n],\n}', {"a": [1, 2]}),
        ('{"comma, in": "str,]"}', {"comma, in": "str,]"}),
    ],
)
def test_strip_jsonc_cases(text, expected):
    assert json.loads(strip_jsonc(text)) == expected


def test_commas_between_values_are_kept():
    assert strip_jsonc("[1, 2]") == "[1, 2]"
    with pytest.raises(json.JSONDecodeError):
        json.loads(strip_jsonc("[1,, 2]"))  # still invalid: only trailing commas go
