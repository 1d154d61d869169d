"""Structured clone as a Python Worker's RPC and storage see it."""

from __future__ import annotations

import datetime
import re

import pytest

from bindings.durable_objects import clone
from bindings.durable_objects.clone import DataCloneError
from emulator.sdk import Response


def test_plain_data_is_deep_copied_with_cycles_and_shared_references():
    shared = {"n": 1}
    value = {"a": [shared, shared], "s": {1, 2}, "b": b"\x00", "f": 1.5, "none": None}
    value["self"] = value
    copied = clone.to_rpc(value)
    assert copied is not value and copied["a"][0] is copied["a"][1]
    assert copied["a"][0] == {"n": 1} and copied["a"][0] is not shared
    assert copied["self"] is copied and copied["s"] == {1, 2} and copied["b"] == b"\x00"


def test_numbers_come_back_as_javascript_numbers_do():
    assert clone.to_rpc([3.0, 2.5, 2**60, True]) == [3, 2.5, 2**60, True]
    assert type(clone.to_rpc(3.0)) is int and type(clone.to_rpc(True)) is bool


def test_dates_and_errors_take_the_sdk_round_trip():
    aware = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    back = clone.to_rpc(aware)
    assert back.tzinfo is None and back.timestamp() == aware.timestamp()
    error = clone.to_rpc(ValueError("boom"))
    assert type(error) is Exception and str(error) == "Error: boom"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ((1, 2), "<class 'tuple'> cannot be sent over RPC."),
        (bytearray(b"x"), "<class 'bytearray'> cannot be sent over RPC."),
        (lambda: 1, "<class 'function'> cannot be sent over RPC."),
    ],
)
def test_rpc_refuses_what_python_to_rpc_refuses(value, message):
    with pytest.raises(TypeError) as info:
        clone.to_rpc({"inner": [value]})
    assert str(info.value) == message


def test_awaitables_and_class_instances_are_refused():
    async def work():
        return 1

    coroutine = work()
    with pytest.raises(TypeError, match="Awaitable <class 'coroutine'> cannot be sent over RPC"):
        clone.to_rpc(coroutine)
    coroutine.close()

    class Point:
        pass

    expected = 'type "PyProxy". This type does not support serialization. (a Point'
    with pytest.raises(DataCloneError, match=re.escape(expected)):
        clone.to_rpc([Point()])


def test_storage_turns_tuples_into_lists_and_round_trips_through_bytes():
    value = clone.for_storage({"t": (1, 2), "when": datetime.datetime(2025, 5, 1, 12)})
    assert value["t"] == [1, 2]
    assert clone.decode(clone.encode(value)) == value


def test_responses_pass_by_reference():
    response = Response("hi")
    assert clone.to_rpc(response) is response


def test_decode_refuses_anything_but_cloned_types():
    import pickle

    with pytest.raises(pickle.UnpicklingError, match="stored value refers to"):
        clone.decode(pickle.dumps(__import__("os").system))
