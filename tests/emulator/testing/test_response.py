"""emulator.testing.response: body readers over a worker's streamed or fixed body."""

import pytest

from emulator.sdk import Response
from emulator.testing import TestResponse


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
    events = [event async for event in TestResponse(raw, url="http://x/").iter_sse()]
    assert [e.data for e in events] == ['{"response":"a"}', "line one\nline two", "[DONE]"]
    assert events[0].json() == {"response": "a"} and events[0].event == "message"
    assert (events[1].event, events[1].id, events[1].retry) == ("error", "7", 10)


async def test_text_decodes_across_chunk_boundaries_with_the_charset():
    text = "héllo wörld"
    data = text.encode("utf-8")
    raw, _ = streamed(data[:2], data[2:8], data[8:])
    pieces = [piece async for piece in TestResponse(raw, url="http://x/").iter_text()]
    assert "".join(pieces) == text
    latin_type = {"content-type": "text/plain; charset=latin-1"}
    latin, _ = streamed("ça".encode("latin-1"), headers=latin_type)
    assert await TestResponse(latin, url="http://x/").text() == "ça"


async def test_json_error_names_status_and_body():
    response = TestResponse(Response("not json", status=418), url="http://x/")
    with pytest.raises(AssertionError, match=r"not JSON.*status 418.*'not json'"):
        await response.json()


async def test_body_is_read_once_then_cached():
    raw, produced = streamed(b"a", b"b")
    response = TestResponse(raw, url="http://x/")
    assert await response.bytes() == b"ab"
    assert await response.text() == "ab"
    assert [c async for c in response.iter_bytes()] == [b"ab"]
    assert produced == [b"a", b"b"]


async def test_finishing_the_body_runs_the_done_callback_once():
    finished = []

    async def done():
        finished.append(True)

    raw, _ = streamed(b"x")
    response = TestResponse(raw, url="http://x/", on_done=done)
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

    response = TestResponse(Response(body()), url="http://x/")
    async with response:
        async for _ in response.iter_bytes():
            break
    assert closed == [True]
