"""The key range of a `list()` call, as workerd clamps start, end and prefix."""

from __future__ import annotations

import pytest

from bindings.durable_objects.keyspace import key_range, options


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        ({}, (b"", None)),
        ({"start": "b", "end": "d"}, (b"b", b"d")),
        ({"startAfter": "b"}, (b"b\0", None)),
        ({"prefix": "ab"}, (b"ab", b"ac")),
        ({"prefix": "ab", "start": "a"}, (b"ab", b"ac")),  # start before the prefix
        ({"prefix": "ab", "start": "abz"}, (b"abz", b"ac")),  # start inside it
        ({"prefix": "ab", "start": "b"}, None),  # start after every prefixed key
        ({"prefix": "ab", "end": "abc"}, (b"ab", b"abc")),  # end inside the prefix
        ({"prefix": "ab", "end": "z"}, (b"ab", b"ac")),  # end after it: clamped
        ({"prefix": "ab", "end": "aa"}, None),
        ({"prefix": "a\xff"}, (b"a\xc3\xbf", b"a\xc3\xc0")),  # bytes, not characters
        ({"start": "d", "end": "b"}, None),
    ],
)
def test_key_range(opts, expected):
    assert key_range(opts) == expected


def test_options_take_camel_and_snake_case():
    assert options({"allowConcurrency": True}, {"no_cache": True}, {"allowConcurrency",
                                                                    "noCache"}) == {
        "allowConcurrency": True, "noCache": True}  # fmt: skip
