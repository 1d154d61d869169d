"""emulator.testing.driver: one in-process HTTP exchange with an ASGI app, streamed."""

import asyncio

import pytest

from emulator.testing.driver import ClientDisconnected, start

SCOPE = {"type": "http", "method": "GET", "path": "/", "headers": []}


async def read(exchange):
    return [chunk async for chunk in exchange.chunks()]


async def test_a_streamed_body_crosses_one_chunk_at_a_time():
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"a", b"1")]})
        for part in (b"one", b"two", b"three"):
            sent.append(part)
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        sent.append("done")

    exchange = await start(app, SCOPE)
    assert (exchange.status, exchange.headers, exchange.streamed) == (200, [(b"a", b"1")], True)
    received = []
    async for chunk in exchange.chunks():
        received.append(chunk)
        await asyncio.sleep(0)  # give the app every chance to run ahead: it must not
        assert sent == [b"one", b"two", b"three"][: len(received)]
    assert received == [b"one", b"two", b"three"] and sent[-1] == "done"
    assert exchange.complete


async def test_a_body_sent_whole_is_complete_once_the_app_is_done():
    events = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"whole"})
        await asyncio.sleep(0.01)  # after-response work (wait_until)
        events.append("after")

    exchange = await start(app, SCOPE)
    assert events == ["after"] and exchange.complete and not exchange.streamed
    assert await read(exchange) == [b"whole"]


@pytest.mark.parametrize("body", [b"abc", "chunks"])
async def test_request_body_then_disconnect_once_the_response_is_read(body):
    messages = []

    async def chunks():
        yield b"a"
        yield b"bc"

    async def app(scope, receive, send):
        while True:
            message = await receive()
            messages.append(message)
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        messages.append(await receive())

    exchange = await start(app, SCOPE, body if body == b"abc" else chunks())
    assert b"".join(m["body"] for m in messages) == b"abc"
    assert await read(exchange) == [b"x"]
    assert messages[-1] == {"type": "http.disconnect"}


async def test_leaving_early_is_a_disconnect_the_app_sees():
    seen = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        watcher = asyncio.ensure_future(receive())
        try:
            for i in range(100):
                await send({"type": "http.response.body", "body": b"%d" % i, "more_body": True})
        except ClientDisconnected:
            seen.append("send refused")
        seen.append((await watcher)["type"])
        with pytest.raises(ClientDisconnected):
            await send({"type": "http.response.body", "body": b"the client left"})

    exchange = await start(app, SCOPE)
    async for _ in exchange.chunks():
        break
    await exchange.aclose()
    assert seen == ["send refused", "http.disconnect"]


async def test_app_errors_come_out_before_or_after_the_response_started():
    async def fails_first(scope, receive, send):
        raise KeyError("before")

    with pytest.raises(KeyError, match="before"):
        await start(fails_first, SCOPE)

    async def fails_later(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        raise KeyError("after")

    exchange = await start(fails_later, SCOPE)
    received = []
    with pytest.raises(KeyError, match="after"):
        async for chunk in exchange.chunks():
            received.append(chunk)
    assert received == [b"x"]

    async def says_nothing(scope, receive, send):
        return

    with pytest.raises(RuntimeError, match="without a response"):
        await start(says_nothing, SCOPE)


async def test_head_has_no_body_on_the_wire():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"not sent"})

    assert await read(await start(app, {**SCOPE, "method": "HEAD"})) == []
