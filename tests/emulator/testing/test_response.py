"""emulator.testing.response: body readers over what the app sent, streamed or whole."""

import pytest

from emulator.app import create_app
from emulator.sdk import Response
from emulator.testing import TestResponse
from emulator.testing.driver import start

SCOPE = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/", "query_string": b"",
         "headers": [(b"host", b"x")], "scheme": "http", "server": ("x", 80)}  # fmt: skip


class Returns:
    """A stand-in worker answering every request with one prepared Response."""

    name = "stub"
    has_scheduled = False

    def __init__(self, response):
        self.response = response

    async def fetch(self, request, ctx):
        return self.response


async def respond(raw, **kwargs):
    exchange = await start(create_app(lambda: Returns(raw)), dict(SCOPE))
    return TestResponse(exchange, url="http://x/", **kwargs)


def streamed(*chunks, headers=None):
    produced = []

    async def body():
        for chunk in chunks:
            produced.append(chunk)
            yield chunk

    return Response(body(), headers=headers or {}), produced


async def test_sse_events_split_across_chunks():
    raw, _ = streamed(
        b"data: {\"response\":",
        b"\"a\"}\n\n: a comment\n\nevent: error\nid: 7\nretry: 10\ndata: line one\r\n",
        b"data: line two\r\n\r\n",
        b"data: [DONE]\n\n",
        headers={"content-type": "text/event-stream"},
    )
    events = [event async for event in (await respond(raw)).iter_sse()]
    assert [e.data for e in events] == ['{"response":"a"}', "line one\nline two", "[DONE]"]
    assert events[0].json() == {"response": "a"} and events[0].event == "message"
    assert (events[1].event, events[1].id, events[1].retry) == ("error", "7", 10)


async def test_sse_needs_an_event_stream():
    from httpx_sse import SSEError

    raw, _ = streamed(b"data: x\n\n", headers={"content-type": "text/plain"})
    with pytest.raises(SSEError, match="text/event-stream"):
        [event async for event in (await respond(raw)).iter_sse()]


async def test_text_decodes_across_chunk_boundaries_with_the_charset():
    text = "héllo wörld"
    data = text.encode("utf-8")
    raw, _ = streamed(data[:2], data[2:8], data[8:])
    pieces = [piece async for piece in (await respond(raw)).iter_text()]
    assert "".join(pieces) == text
    latin_type = {"content-type": "text/plain; charset=latin-1"}
    latin, _ = streamed("ça".encode("latin-1"), headers=latin_type)
    assert await (await respond(latin)).text() == "ça"


async def test_status_headers_and_what_a_client_sees():
    response = await respond(Response("short and stout", status=418, headers={"x-a": "1"}))
    assert (response.status, response.status_text, response.ok) == (418, "I'm a Teapot", False)
    assert response.headers.get("X-A") == "1"
    assert response.headers.get("content-length") == "15"  # the app adds it, as for a client
    assert not response.streamed
    raw, _ = streamed(b"a")
    assert (await respond(raw)).streamed


async def test_json_error_names_status_and_body():
    response = await respond(Response("not json", status=418))
    with pytest.raises(AssertionError, match=r"not JSON.*status 418.*'not json'"):
        await response.json()


async def test_body_is_read_once_then_cached():
    raw, produced = streamed(b"a", b"b")
    response = await respond(raw)
    assert await response.bytes() == b"ab"
    assert await response.text() == "ab"
    assert [c async for c in response.iter_bytes()] == [b"ab"]
    assert produced == [b"a", b"b"]


async def test_finishing_the_body_runs_the_done_callback_once():
    finished = []

    raw, _ = streamed(b"x")
    response = await respond(raw, on_done=lambda: finished.append(True))
    assert finished == []
    await response.text()
    await response.aclose()
    assert finished == [True]


async def test_closing_early_stops_the_producer():
    closed = []

    async def body():
        try:
            for i in range(100):
                yield str(i).encode()
        finally:
            closed.append(True)

    response = await respond(Response(body()))
    async with response:
        async for _ in response.iter_bytes():
            break
    assert closed == [True]
