import asyncio
import json
from http import HTTPStatus

import pytest

from emulator.sdk import FormData, Headers, Request, Response


async def test_text_response_defaults():
    r = Response("héllo")
    assert r.status == 200 and r.ok and r.status_text == ""
    assert r.headers.get("content-type") == "text/plain;charset=UTF-8"
    assert await r.text() == "héllo"
    with pytest.raises(TypeError, match="Body already used"):
        await r.text()


async def test_bytes_like_bodies_and_no_content_type():
    for body in (b"ab", bytearray(b"ab"), memoryview(b"ab")):
        r = Response(body)
        assert not r.headers.has("content-type")
        assert await r.bytes() == b"ab"
    assert await Response().bytes() == b""
    assert Response(None, status=204).fixed_body == b""


def test_dict_body_is_a_type_error_pointing_at_response_json():
    with pytest.raises(TypeError, match=r"Response\.json"):
        Response({"a": 1})
    with pytest.raises(TypeError, match="Unsupported type"):
        Response(object())


@pytest.mark.parametrize("status", [99, 199, 600, 1000])
def test_status_out_of_range_is_value_error(status):
    with pytest.raises(ValueError, match="outside the range"):
        Response("x", status=status)


def test_status_must_be_int_and_null_body_status_has_no_body():
    with pytest.raises(TypeError):
        Response("x", status="200")
    with pytest.raises(TypeError, match="null body status"):
        Response("", status=204)
    assert Response(status=HTTPStatus.NO_CONTENT).status == 204


def test_cloudflare_positional_status_text():
    # Cloudflare's SDK signature is (body, status, status_text, headers)
    r = Response("x", 404, "Not Here")
    assert r.status_text == "Not Here" and r.statusText == "Not Here"
    r = Response("x", 201, {"x-a": "1"}, "Made")
    assert r.headers.get("x-a") == "1" and r.status_text == "Made"


async def test_json_is_constructor_on_class_and_parser_on_instance():
    r = Response.json({"msg": "hé", "n": [1, 2]}, status=201, headers={"x-a": "1"})
    assert r.status == 201
    assert r.headers.get("content-type") == "application/json"
    assert r.headers.get("x-a") == "1"
    assert r.fixed_body == '{"msg":"hé","n":[1,2]}'.encode()  # compact, like JSON.stringify
    data = await r.json()
    assert data.msg == "hé" and data == {"msg": "hé", "n": [1, 2]}
    custom = Response.json([1], headers={"content-type": "application/vnd.x+json"})
    assert custom.headers.get_all("content-type") == ["application/vnd.x+json"]
    with pytest.raises(TypeError):
        Response.json({"a": object()})
    with pytest.raises(ValueError):
        Response.json(float("nan"))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_statuses(status):
    r = Response.redirect("https://example.com/next", status)
    assert r.status == status
    assert r.headers.get("location") == "https://example.com/next"
    assert r.fixed_body == b""


def test_redirect_default_and_errors():
    assert Response.redirect("https://e.com/").status == 302
    with pytest.raises(ValueError, match="301, 302, 303, 307 or 308"):
        Response.redirect("https://e.com/", 200)
    with pytest.raises(TypeError, match="absolute URL"):
        Response.redirect("/relative")


def test_headers_multi_values_set_cookie():
    r = Response("x", headers=[("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2")])
    r.headers.append("set-cookie", "c=3")
    assert r.headers.getSetCookie() == ["a=1; Path=/", "b=2", "c=3"]
    cookies = [v for k, v in r.headers.raw() if k == b"set-cookie"]
    assert cookies == [b"a=1; Path=/", b"b=2", b"c=3"]
    assert isinstance(r.headers, Headers)


async def test_async_generator_body_streams_chunk_by_chunk():
    produced = []
    gate = asyncio.Event()

    async def gen():
        produced.append("first")
        yield b"first"
        await gate.wait()
        produced.append("second")
        yield "second"

    r = Response(gen(), headers={"content-type": "text/event-stream"})
    assert r.fixed_body is None
    it = r.body_iter()
    assert await it.__anext__() == b"first"
    assert produced == ["first"]  # the second chunk is not produced before it is asked for
    gate.set()
    assert await it.__anext__() == b"second"
    with pytest.raises(StopAsyncIteration):
        await it.__anext__()


async def test_aclose_closes_the_generator():
    closed = []

    async def gen():
        try:
            yield b"1"
            yield b"2"
        finally:
            closed.append(True)

    r = Response(gen())
    it = r.body_iter()
    assert await it.__anext__() == b"1"
    await r.aclose()
    assert closed == [True]
    await r.aclose()  # idempotent


async def test_sync_iterable_body_and_bad_chunks():
    assert await Response([b"a", b"b"]).bytes() == b"ab"

    async def bad():
        yield 5

    with pytest.raises(TypeError, match="expected bytes or str"):
        await Response(bad()).bytes()


async def test_response_clone_and_body_passthrough():
    async def gen():
        yield b"x"
        yield b"y"

    r = Response(gen(), status=202, headers={"a": "1"})
    copy = r.clone()
    assert await copy.text() == "xy"
    assert await r.text() == "xy"
    upstream = Response("proxied", headers={"x": "1"})
    forwarded = Response(upstream.body, status=upstream.status, headers=upstream.headers)
    assert await forwarded.text() == "proxied"
    assert forwarded.headers.get("x") == "1"


async def test_form_data_body_round_trips():
    form = FormData({"a": "1"})
    form.append("a", "2")
    r = Response(form)
    assert r.headers.get("content-type").startswith("multipart/form-data; boundary=")
    req = Request("http://x/", "POST", r.headers, await r.bytes())
    parsed = await req.form_data()
    assert parsed.get_all("a") == ["1", "2"]


def test_repr_mentions_status_and_type():
    assert "status=404" in repr(Response("x", status=404))
    assert json.loads(Response.json({"a": 1}).fixed_body) == {"a": 1}


async def test_blob_body_and_bad_status_text():
    from emulator.sdk import Blob

    r = Response(Blob([b"a", "b"], "application/x-test"))
    assert r.headers.get("content-type") == "application/x-test"
    assert await r.bytes() == b"ab"
    with pytest.raises(TypeError, match="status_text"):
        Response("x", 200, status_text="OK\r\nX-Injected: 1")


async def test_aclose_reaches_the_producer_through_a_passed_on_body():
    closed = []

    async def gen():
        try:
            yield b"1"
            yield b"2"
        finally:
            closed.append("upstream")

    upstream = Response(gen())
    forwarded = Response(upstream.body)
    it = forwarded.body_iter()
    assert await it.__anext__() == b"1"
    await forwarded.aclose()
    assert closed == ["upstream"]


async def test_custom_async_iterable_with_aclose():
    class Stream:
        def __init__(self):
            self.closed = False

        def __aiter__(self):
            return self._gen()

        async def _gen(self):
            yield b"data: 1\n\n"
            yield b"data: [DONE]\n\n"

        async def aclose(self):
            self.closed = True

    stream = Stream()
    r = Response(stream, headers={"content-type": "text/event-stream"})
    it = r.body_iter()
    assert await it.__anext__() == b"data: 1\n\n"
    assert not stream.closed
    await r.aclose()  # e.g. the client went away mid-stream
    assert stream.closed
    whole = Response(Stream())
    assert await whole.text() == "data: 1\n\ndata: [DONE]\n\n"
