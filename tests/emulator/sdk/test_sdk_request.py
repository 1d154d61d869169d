import json

import httpx
import pytest

from emulator.sdk import BodyUsedError, FormData, Request


async def chunks(*parts, log=None):
    for part in parts:
        if log is not None:
            log.append(part)
        yield part


async def test_basic_attributes_and_json_attribute_access():
    req = Request("https://example.com/a?b=1", "post", {"Content-Type": "application/json"},
                  json.dumps({"name": "Ada", "tags": [{"k": 1}]}))
    assert req.url == "https://example.com/a?b=1"
    assert req.method == "POST"  # standard methods are upper-cased
    assert req.headers.get("content-type") == "application/json"
    data = await req.json()
    assert data["name"] == "Ada" and data.name == "Ada"  # dict and attribute access
    assert data.tags[0].k == 1
    assert json.loads(json.dumps(data)) == {"name": "Ada", "tags": [{"k": 1}]}


def test_custom_methods_kept_verbatim_and_invalid_rejected():
    assert Request("http://x/", "patch").method == "patch"  # Fetch only normalises six
    assert Request("http://x/", "PROPFIND").method == "PROPFIND"
    with pytest.raises(TypeError):
        Request("http://x/", "GE T")


def test_relative_url_and_get_with_body_are_errors():
    with pytest.raises(TypeError, match="absolute URL"):
        Request("/relative")
    with pytest.raises(TypeError, match="GET or HEAD"):
        Request("http://x/", "GET", body=b"data")
    with pytest.raises(TypeError, match="Request body"):
        Request("http://x/", "POST", body={"a": 1})


async def test_body_used_twice_raises_type_error_and_os_error():
    req = Request("http://x/", "POST", body="hello")
    assert not req.body_used
    assert await req.text() == "hello"
    assert req.body_used and req.bodyUsed
    with pytest.raises(TypeError, match="Body already used"):
        await req.text()
    with pytest.raises(OSError):  # what Cloudflare's Python SDK raises
        await req.bytes()
    assert issubclass(BodyUsedError, TypeError)


async def test_no_body_reads_empty():
    req = Request("http://x/")
    assert await req.bytes() == b""
    assert req.body is None


async def test_clone_before_read_gives_independent_bodies():
    req = Request("http://x/", "POST", body=b"abc")
    copy = req.clone()
    assert await req.text() == "abc"
    assert await copy.text() == "abc"
    with pytest.raises(TypeError):
        req.clone()  # body already used


async def test_clone_of_stream_reads_lazily_in_both_branches():
    pulled = []
    req = Request("http://x/", "POST", body=chunks(b"a", b"b", b"c", log=pulled))
    copy = req.clone()
    assert pulled == []  # nothing read yet
    branch = copy.body
    first = await branch.__anext__()
    assert first == b"a" and pulled == [b"a"]
    assert await req.bytes() == b"abc"
    rest = [chunk async for chunk in branch]
    assert rest == [b"b", b"c"]
    third = Request("http://x/", "POST", body=chunks(b"1", b"2")).clone().clone()
    assert await third.text() == "12"


async def test_streamed_body_read_lazily():
    pulled = []
    req = Request("http://x/", "PUT", body=chunks(b"he", "llo", log=pulled))
    assert pulled == []
    assert await req.text() == "hello"
    assert pulled == [b"he", "llo"]


async def test_body_property_streams_chunks():
    req = Request("http://x/", "POST", body=chunks(b"1", b"2"))
    assert [c async for c in req.body] == [b"1", b"2"]
    assert req.body_used


async def test_form_data_urlencoded():
    req = Request("http://x/", "POST", {"content-type": "application/x-www-form-urlencoded"},
                  "a=1&b=two+words&a=3&empty=")
    form = await req.form_data()
    assert isinstance(form, FormData)
    assert form["a"] == "1" and form.get_all("a") == ["1", "3"]
    assert form["b"] == "two words" and form["empty"] == ""


async def test_form_data_multipart_with_file():
    built = httpx.Request("POST", "http://x/", data={"name": "Ada"},
                          files={"upload": ("notes.txt", b"\x00\x01line\r\n", "text/plain")})
    req = Request("http://x/", "POST", built.headers.multi_items(), built.read())
    form = await req.formData()
    assert form["name"] == "Ada"
    upload = form["upload"]
    assert upload.name == "notes.txt" and upload.type == "text/plain"
    assert await upload.bytes() == b"\x00\x01line\r\n"


async def test_form_data_rejects_other_content_types():
    req = Request("http://x/", "POST", {"content-type": "application/json"}, "{}")
    with pytest.raises(TypeError, match="FormData"):
        await req.form_data()


async def test_from_asgi_streams_body_from_receive():
    messages = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    ]
    received = []

    async def receive():
        received.append(1)
        return messages.pop(0)

    scope = {"type": "http", "method": "POST", "scheme": "http", "path": "/p",
             "raw_path": b"/p", "query_string": b"q=1",
             "headers": [(b"host", b"localhost:8787"), (b"content-length", b"4")]}
    req = Request.from_asgi(scope, receive)
    assert req.url == "http://localhost:8787/p?q=1"
    assert received == []  # lazy
    assert await req.text() == "abcd"
    get = Request.from_asgi({**scope, "method": "GET", "headers": [(b"host", b"h")]}, receive)
    assert get.body is None and await get.text() == ""


def test_request_from_request_moves_body():
    original = Request("http://x/", "POST", {"a": "1"}, b"data")
    copy = Request(original, headers={"b": "2"})
    assert copy.method == "POST" and copy.url == "http://x/"
    assert copy.headers.get("b") == "2" and not copy.headers.has("a")
    assert original.body_used


async def test_from_asgi_disconnect_mid_body_is_os_error():
    messages = [{"type": "http.request", "body": b"a", "more_body": True},
                {"type": "http.disconnect"}]

    async def receive():
        return messages.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
             "headers": [(b"host", b"h"), (b"transfer-encoding", b"chunked")]}
    req = Request.from_asgi(scope, receive)
    with pytest.raises(OSError, match="disconnected"):
        await req.bytes()


def test_install_makes_workers_importable():
    import sys

    import emulator.sdk

    saved = sys.modules.pop("workers", None)
    try:
        emulator.sdk.install()
        import workers

        assert workers is emulator.sdk
        assert workers.Request is Request
    finally:
        if saved is not None:
            sys.modules["workers"] = saved


async def test_clone_branches_read_concurrently():
    import asyncio

    async def slow():
        for part in (b"a", b"b", b"c"):
            await asyncio.sleep(0)
            yield part

    req = Request("http://x/", "POST", body=slow())
    copy = req.clone()
    first, second = await asyncio.gather(req.bytes(), copy.bytes())
    assert first == second == b"abc"


async def test_request_from_used_request_is_an_error():
    original = Request("http://x/", "POST", body=b"x")
    await original.text()
    with pytest.raises(TypeError, match="already used"):
        Request(original)
