"""Durable Object ids: workerd's format and checks."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bindings.durable_objects.ids import IdFactory


def test_id_from_name_is_workerds_hmac_construction():
    factory = IdFactory("counter-Counter")
    key = hashlib.sha256(b"counter-Counter").digest()
    base = hmac.digest(key, b"alice", "sha256")[:16]
    expected = (base + hmac.digest(key, base, "sha256")[:16]).hex()
    made = factory.from_name("alice")
    assert str(made) == made.toString() == expected and len(expected) == 64
    assert made.name == "alice" and made.equals(factory.from_name("alice"))
    assert factory.from_name("bob") != made
    assert IdFactory("counter-Other").from_name("alice") != made  # per namespace


def test_unique_ids_differ_and_round_trip_without_a_name():
    factory = IdFactory("w-C")
    a, b = factory.new_unique(), factory.new_unique()
    assert a != b
    back = factory.from_string(str(a))
    assert back == a and back.name is None and hash(back) == hash(a)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "Invalid Durable Object ID: must be 64 hex digits"),
        ("z" * 64, "Invalid Durable Object ID: must be 64 hex digits"),
        (42, "Invalid Durable Object ID: must be 64 hex digits"),
        ("0" * 64, "Durable Object ID is not valid for this namespace."),
    ],
)
def test_id_from_string_refuses_with_workerds_wording(text, message):
    with pytest.raises(TypeError) as info:
        IdFactory("w-C").from_string(text)
    assert str(info.value) == message


def test_an_id_of_another_namespace_is_refused():
    other = IdFactory("w-Other").from_name("x")
    with pytest.raises(TypeError, match="not valid for this namespace"):
        IdFactory("w-C").from_string(str(other))


def test_jurisdiction_is_kept_in_the_id():
    factory = IdFactory("w-C")
    eu = factory.new_unique("eu")
    assert factory.from_string(str(eu)).jurisdiction == "eu"
    assert factory.from_name("x", "eu") != factory.from_name("x")
    with pytest.raises(ValueError, match="Invalid jurisdiction 'mars'"):
        factory.new_unique("mars")
    with pytest.raises(TypeError, match="takes a string name"):
        factory.from_name(7)
