"""The `js` module's globals, over edge's Request/Response/Headers."""

from __future__ import annotations

import asyncio
import math

import pytest

from emulator.errors import NotEmulatedName
from emulator.ffi import js
from emulator.ffi.convert import to_js
from emulator.ffi.modules import js_module
from emulator.ffi.values import JsArray, JsBuffer, JsException
from emulator.sdk import Headers, Request, Response
from emulator.sdk.attrdict import AttrDict

G = js.GLOBALS


async def test_response_new_with_keyword_or_object_options():
    response = G["Response"].new("hi", status=201, headers=G["Headers"].new({"x-a": "1"}.items()))
    assert isinstance(response, Response)
    assert (response.status, response.headers.get("x-a"), await response.text()) == (201, "1", "hi")
    init = to_js({"status": 404, "statusText": "Nope"}, dict_converter=G["Object"].fromEntries)
    missing = G["Response"].new("no", init)
    assert (missing.status, missing.statusText) == (404, "Nope")
    assert (await missing.arrayBuffer()).to_bytes() == b"no"


def test_response_errors_are_javascript_errors_and_maps_are_ignored(caplog):
    with pytest.raises(JsException) as caught:
        G["Response"].new("x", status=1000)
    assert caught.value.name == "RangeError"
    with pytest.raises(JsException) as caught:
        G["Response"].new("x", status=204)
    assert caught.value.name == "TypeError"
    ignored = G["Response"].new("x", to_js({"status": 404}))  # a Map: JS reads no options
    assert ignored.status == 200
    assert "Map" in caplog.text


async def test_response_json_request_headers_and_fetch_shapes():
    response = G["Response"].json(to_js({"a": 1}, dict_converter=G["Object"].fromEntries))
    assert response.headers.get("content-type") == "application/json"
    assert await response.json() == {"a": 1}
    request = G["Request"].new("https://x.dev/p", method="POST", body="b")
    assert isinstance(request, Request) and request.method == "POST"
    assert request.js_object is request
    headers = G["Headers"].new([("a", "1")])
    assert isinstance(headers, Headers) and headers.get("a") == "1"
    with pytest.raises(JsException, match="without 'new'"):
        G["Response"]("x")


def test_object_array_and_json():
    obj = G["Object"].fromEntries([("a", 1), ["b", 2]])
    assert obj.a == 1 and obj["b"] == 2
    assert list(G["Object"].keys(obj)) == ["a", "b"]
    assert G["Object"].entries(obj).to_py() == [["a", 1], ["b", 2]]
    with pytest.raises(JsException, match="not an entry object"):
        G["Object"].fromEntries({"a": 1})
    assert G["Array"].from_((1, 2)) == [1, 2] and G["Array"].isArray(JsArray())
    parsed = G["JSON"].parse('{"a": [1, {"b": null}]}')
    assert parsed.a[1].b is None and parsed.to_py() == {"a": [1, {"b": None}]}
    with pytest.raises(JsException) as caught:
        G["JSON"].parse("{bad")
    assert caught.value.name == "SyntaxError" and "is not valid JSON" in caught.value.message
    with pytest.raises(JsException, match="Unexpected end of JSON input"):
        G["JSON"].parse("")
    assert G["JSON"].stringify({"k": "é"}, None, 2) == '{\n  "k": "é"\n}'


def test_console_prints_like_javascript(capsys):
    G["console"].log("n", 1.0, True, None, AttrDict(a=[1]))
    G["console"].error("bad")
    out, err = capsys.readouterr()
    assert out == 'n 1 true undefined {"a":[1]}\n'
    assert err == "bad\n"


def test_errors_encodings_and_math():
    error = G["Error"].new("boom")
    assert isinstance(error, JsException) and error.name == "Error" and str(error) == "Error: boom"
    with pytest.raises(JsException):
        raise G["TypeError"]("bad type")
    assert G["btoa"]("hi") == "aGk=" and G["atob"]("aGk=") == "hi"
    with pytest.raises(JsException, match="decoded"):
        G["atob"]("*")
    assert G["encodeURIComponent"]("a b/é") == "a%20b%2F%C3%A9"
    assert G["decodeURIComponent"]("a%20b%2F") == "a b/"
    assert G["decodeURI"]("a%20b%2F") == "a b%2F"  # reserved escapes stay
    with pytest.raises(JsException, match="URI malformed"):
        G["decodeURIComponent"]("%E0%A4%A")
    encoded = G["TextEncoder"].new().encode("é")
    assert isinstance(encoded, JsBuffer) and G["TextDecoder"].new().decode(encoded) == "é"
    assert G["Uint8Array"].new(3).to_bytes() == b"\0\0\0"
    assert G["Math"].floor(1.5) == 1 and G["Math"].round(2.5) == 3
    assert math.isclose(G["Math"].PI, math.pi)
    assert len(G["crypto"].randomUUID()) == 36
    with pytest.raises(NotEmulatedName, match=r"crypto\.subtle is not emulated"):
        G["crypto"].subtle  # noqa: B018


def test_dates_are_utc_milliseconds():
    date = G["Date"].new("2024-02-29T12:34:56.789Z")
    assert date.getTime() == 1709210096789
    assert date.toISOString() == "2024-02-29T12:34:56.789Z"
    assert (date.getFullYear(), date.getMonth(), date.getDate(), date.getDay()) == (2024, 1, 29, 4)
    assert G["JSON"].stringify({"when": date}) == '{"when":"2024-02-29T12:34:56.789Z"}'
    assert G["Date"].UTC(2024, 0, 1) == 1704067200000
    assert math.isnan(G["Date"].parse("not a date"))
    with pytest.raises(JsException, match="Invalid time value"):
        G["Date"].new("nope").toISOString()
    assert abs(G["Date"].now() - G["Date"].new().getTime()) < 1000


async def test_timers():
    fired = []
    G["setTimeout"](fired.append, 1, "a")
    cancelled = G["setTimeout"](fired.append, 1, "b")
    G["clearTimeout"](cancelled)
    await asyncio.sleep(0.02)
    assert fired == ["a"]


def test_unknown_names_say_they_are_not_emulated():
    module = js_module()
    with pytest.raises(NotEmulatedName, match=r"js\.WebSocketPair is not emulated") as caught:
        module.WebSocketPair  # noqa: B018
    assert "Response" in str(caught.value)  # lists what is there
    assert isinstance(caught.value, AttributeError)
    assert not hasattr(module, "HTMLRewriter")
    assert module.fetch is js.fetch
    assert "json" not in dir(module)  # only JavaScript's names


async def test_fetch_failure_is_a_javascript_type_error():
    with pytest.raises(JsException) as caught:
        await G["fetch"]("http://127.0.0.1:9/", method="GET")
    assert caught.value.name == "TypeError"
