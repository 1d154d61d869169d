import json

import httpx
import pytest
from httpx_sse import EventSource
from hypothesis import given
from hypothesis import strategies as st

from bindings.ai.engines.base import Usage
from bindings.ai.errors import AiError
from bindings.ai.streaming import DONE, AiStream, collect, sse_frame

USAGE = Usage(prompt_tokens=3, completion_tokens=2)


async def source(*items, error=None, log=None):
    try:
        for item in items:
            yield item
        if error is not None:
            raise error
    finally:
        if log is not None:
            log.append("closed")


def parse(frames: list[bytes]) -> list[dict | str]:
    """Read frames back the way a client would: with a standard SSE parser."""
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=b"".join(frames)
    )
    out = []
    for event in EventSource(response).iter_sse():
        out.append(event.data if event.data == "[DONE]" else (event.event, json.loads(event.data)))
    return out


async def frames_of(stream):
    return [frame async for frame in stream]


async def test_frames_are_cloudflare_shaped():
    frames = await frames_of(AiStream(source("Hel", "lo", USAGE)))
    assert frames == [
        b'data: {"response":"Hel"}\n\n',
        b'data: {"response":"lo"}\n\n',
        b'data: {"response":"","usage":{"prompt_tokens":3,"completion_tokens":2,'
        b'"total_tokens":5}}\n\n',
        DONE,
    ]
    assert parse(frames)[-1] == "[DONE]"


async def test_non_ascii_is_sent_as_is_and_each_frame_is_valid_utf8():
    frames = await frames_of(AiStream(source("héllo ", "🙂", USAGE)))
    assert frames[1] == 'data: {"response":"🙂"}\n\n'.encode()
    for frame in frames:
        frame.decode("utf-8")  # strict: raises if a character were split


@given(st.text(min_size=1), st.data())
async def test_bytes_chunks_split_anywhere_never_split_characters(text, data):
    raw = text.encode("utf-8")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    frames = await frames_of(AiStream(source(*pieces, USAGE)))
    events = parse(frames)
    texts = [payload["response"] for _, payload in events[:-2]]
    assert "".join(texts) == text
    for frame in frames:
        frame.decode("utf-8")


async def test_surrogate_pair_split_across_chunks_is_rejoined():
    pair = "🙂".encode("utf-16-be")
    high = pair[:2].decode("utf-16-be", "surrogatepass")
    low = pair[2:].decode("utf-16-be", "surrogatepass")
    frames = await frames_of(AiStream(source("a" + high, low + "b", USAGE)))
    texts = [p["response"] for _, p in parse(frames)[:-2]]
    assert "".join(texts) == "a🙂b"
    assert all(frame.decode("utf-8") for frame in frames)


async def test_empty_chunks_make_no_frames():
    frames = await frames_of(AiStream(source("", "x", "", USAGE)))
    assert len(frames) == 3


async def test_missing_usage_is_counted_from_chunks():
    stream = AiStream(source("a", "b"))
    frames = await frames_of(stream)
    assert json.loads(frames[-2][6:])["usage"]["completion_tokens"] == 2
    assert stream.usage == Usage(0, 2)


async def test_mid_stream_error_becomes_a_final_error_frame_without_done():
    log = []
    frames = await frames_of(AiStream(source("a", error=AiError(3040, "busy"), log=log)))
    events = parse(frames)
    assert events[0] == ("message", {"response": "a"})
    assert events[-1] == ("error", {"error": "3040: busy", "code": 3040})
    assert DONE not in frames
    assert log == ["closed"]


async def test_unexpected_exception_becomes_3043():
    frames = await frames_of(AiStream(source(error=RuntimeError("boom"))))
    [(event, payload)] = parse(frames)
    assert event == "error" and payload["code"] == 3043 and "boom" in payload["error"]


async def test_chunks_yields_text_then_usage_and_raises_errors():
    stream = AiStream(source("a", "b", USAGE))
    assert [item async for item in stream.chunks()] == ["a", "b", USAGE]
    with pytest.raises(AiError):
        [item async for item in AiStream(source("a", error=ValueError("x"))).chunks()]


async def test_collect():
    assert await collect(source("Hel", "lo", USAGE)) == ("Hello", USAGE)


async def test_a_stream_is_read_once():
    stream = AiStream(source("a", USAGE))
    await frames_of(stream)
    with pytest.raises(TypeError, match="already read"):
        await frames_of(stream)


async def test_aclose_stops_the_engine():
    log = []
    stream = AiStream(source("a", "b", "c", USAGE, log=log))
    iterator = aiter(stream)
    assert await anext(iterator) == b'data: {"response":"a"}\n\n'
    await stream.aclose()
    assert log == ["closed"]
    await stream.aclose()  # idempotent


async def test_aclose_before_iteration_closes_the_source():
    log = []
    stream = await AiStream(source("a", USAGE, log=log)).start()
    await stream.aclose()
    assert log == ["closed"]


async def test_start_raises_errors_before_the_first_token():
    with pytest.raises(AiError) as info:
        await AiStream(source(error=AiError(3030, "too long"))).start()
    assert info.value.code == 3030


async def test_start_keeps_the_first_item():
    stream = await AiStream(source("a", USAGE)).start()
    assert [item async for item in stream.chunks()] == ["a", USAGE]


def test_sse_frame_with_event():
    assert sse_frame({"a": 1}, event="x") == b'event: x\ndata: {"a":1}\n\n'
