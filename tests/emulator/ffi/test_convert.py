"""`to_js` and the proxies, against Pyodide's conversion table."""

from __future__ import annotations

import json

import pytest

from emulator.ffi import js
from emulator.ffi.convert import create_once_callable, create_proxy, destroy_proxies, to_js
from emulator.ffi.values import (
    ConversionError,
    JsArray,
    JsBuffer,
    JsDoubleProxy,
    JsException,
    JsMap,
    JsProxy,
    JsSet,
    jsnull,
)
from emulator.sdk import Response
from emulator.sdk.attrdict import AttrDict

Object = js.GLOBALS["Object"]


def test_immutables_pass_unchanged():
    for value in ("s", 1, 1.5, True, None):
        assert to_js(value) is value


def test_dict_becomes_a_map_unless_a_dict_converter_is_given():
    converted = to_js({"a": 1, "nested": {"b": [1, 2]}})
    assert isinstance(converted, JsMap) and isinstance(converted, JsProxy)
    assert converted.get("a") == 1 and converted.has("nested") and converted.size == 2
    with pytest.raises(AttributeError):
        converted.a  # noqa: B018 - a Map has entries, not properties
    assert converted.to_py() == {"a": 1, "nested": {"b": [1, 2]}}

    obj = to_js({"a": 1, "nested": {"b": [1, 2]}}, dict_converter=Object.fromEntries)
    assert isinstance(obj, AttrDict) and isinstance(obj, JsProxy)
    assert obj.a == 1 and obj.nested.b == [1, 2]
    assert isinstance(obj.nested.b, JsArray)
    assert obj.to_py() == {"a": 1, "nested": {"b": [1, 2]}}


def test_containers_buffers_and_sets():
    array = to_js([1, (2, 3)])
    assert isinstance(array, JsArray) and array.length == 2 and array.to_py() == [1, [2, 3]]
    assert array.push(4) == 3
    buffer = to_js(b"\x01\x02")
    assert isinstance(buffer, JsBuffer) and buffer.to_bytes() == b"\x01\x02"
    assert buffer.to_py().tobytes() == b"\x01\x02" and buffer.byteLength == 2
    assert isinstance(to_js({1, 2}), JsSet) and to_js({1, 2}).has(1)


def test_depth_and_other_objects_become_proxies():
    class Thing:
        name = "thing"

    shallow = to_js([[1], Thing()], depth=1)
    assert isinstance(shallow[0], JsDoubleProxy) and shallow[0].unwrap() == [1]
    assert shallow[1].name == "thing"
    proxies = JsArray()
    converted = to_js(Thing(), pyproxies=proxies)
    assert proxies == [converted]
    destroy_proxies(proxies)
    with pytest.raises(JsException, match="destroyed"):
        converted.name  # noqa: B018
    with pytest.raises(ConversionError):
        to_js(Thing(), create_pyproxies=False)


def test_converters_and_cycles():
    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b

    def default(value, convert, cache):
        result = JsArray()
        cache(value, result)
        result.extend([convert(value.a), convert(value.b)])
        return result

    assert to_js(Pair(1, [2]), default_converter=default) == [1, [2]]
    cyclic = []
    cyclic.append(cyclic)
    converted = to_js(cyclic)
    assert converted[0] is converted
    seen = []
    to_js({"a": 1}, eager_converter=lambda v, convert, cache: seen.append(v) or convert(v))
    assert seen == [{"a": 1}]


def test_js_values_and_edge_objects_pass_through():
    response = Response("x")
    assert to_js(response) is response
    obj = AttrDict(a=1)
    assert to_js(obj) is obj


def test_create_proxy_and_once_callable():
    proxy = create_proxy(lambda x: x * 2)
    assert proxy(2) == 4 and proxy(3) == 6
    proxy.destroy()
    with pytest.raises(JsException):
        proxy(1)
    once = create_once_callable(lambda: "done")
    assert once() == "done"
    with pytest.raises(JsException):
        once()
    buffer = create_proxy(b"abc").getBuffer()
    assert buffer.data.to_bytes() == b"abc"
    buffer.release()


def test_to_js_results_feed_response_json_and_json_stringify(caplog):
    obj = to_js({"a": [1, {"b": None}]}, dict_converter=Object.fromEntries)
    assert json.loads(Response.json(obj).fixed_body) == {"a": [1, {"b": None}]}
    assert js.stringify(obj) == '{"a":[1,{"b":null}]}'
    # JavaScript's JSON.stringify turns a Map into {}: edge does too, and says why
    assert js.stringify(to_js({"a": 1})) == "{}"
    assert "dict_converter" in caplog.text
    assert js.stringify(jsnull) == "null" and js.stringify(None) is None
