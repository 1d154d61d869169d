"""The ASGI adapter (`import asgi`, `from workers import asgi`), driven with raw ASGI apps
and FastAPI, as Cloudflare's runtime drives them."""

from __future__ import annotations

import asyncio
import logging

import pytest

from emulator.errors import NotEmulatedError
from emulator.sdk import Request, WorkerEntrypoint, asgi
from emulator.sdk.attrdict import AttrDict


def make_request(url="https://example.com/a%20b/c?x=1&y=%2F", **kwargs):
    return Request(url, **kwargs)


def simple_app(body=b"ok", status=200, headers=((b"content-type", b"text/plain"),)):
    seen = {}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return  # no lifespan support
        seen["scope"] = scope
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})

    return app, seen


async def lifespan(receive, send, events):
    """A lifespan handler that notes its shutdown in `events`."""
    await receive()
    await send({"type": "lifespan.startup.complete"})
    await receive()
    events.append("shutdown")
    await send({"type": "lifespan.shutdown.complete"})


async def test_scope_is_cloudflares():
    app, seen = simple_app()
    env = AttrDict(MESSAGE="hi")
    request = make_request(headers={"X-Thing": "1", "Accept": "a"}, method="GET")
    response = await asgi.fetch(app, request.js_object, env)
    assert response.status == 200
    assert await response.text() == "ok"
    scope = seen["scope"]
    assert scope["type"] == "http"
    assert scope["asgi"] == {"spec_version": "2.0", "version": "3.0"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "https"
    assert scope["path"] == "/a b/c"
    assert scope["raw_path"] == b"/a%20b/c"
    assert scope["query_string"] == b"x=1&y=%2F"
    assert (b"x-thing", b"1") in scope["headers"]
    assert scope["env"] is env
    assert scope["state"] == {}
    assert not {"client", "server", "root_path"} & set(scope)


async def test_request_body_in_chunks_then_disconnect_after_response():
    received = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        while True:
            message = await receive()
            received.append(message)
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        received.append(await receive())  # after the response: the client is gone

    async def chunks():
        yield b"ab"
        yield b"cd"

    response = await asgi.fetch(app, make_request(method="POST", body=chunks()), {})
    assert await response.text() == "done"
    assert [m.get("body") for m in received[:3]] == [b"ab", b"cd", b""]
    assert [m.get("more_body") for m in received[:3]] == [True, True, False]
    assert received[3] == {"type": "http.disconnect"}


async def test_streaming_response_streams_with_backpressure():
    sent = []
    gate = asyncio.Event()

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            sent.append(i)
            await send({"type": "http.response.body", "body": b"%d" % i, "more_body": True})
            if i == 0:
                await gate.wait()
        await send({"type": "http.response.body", "body": b""})

    response = await asgi.fetch(app, make_request(), {})
    assert response.fixed_body is None  # streamed, not buffered
    body = response.body_iter()
    assert await anext(body) == b"0"  # the first chunk arrives while the app still runs
    assert sent == [0]
    gate.set()
    assert [chunk async for chunk in body] == [b"1", b"2"]


async def test_lifespan_runs_around_every_request_and_shares_state():
    events = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    scope["state"]["db"] = "connected"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        events.append(("request", scope["state"]["db"]))
        scope["state"]["db"] = "changed by the request"  # a copy: startup's stays
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    for _ in range(2):
        response = await asgi.fetch(app, make_request(), {})
        assert response.status == 204
    assert events == ["lifespan.startup", ("request", "connected"), "lifespan.shutdown"] * 2


async def test_lifespan_shutdown_waits_for_the_end_of_a_stream():
    events = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return await lifespan(receive, send, events)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})

    response = await asgi.fetch(app, make_request(), {})
    assert events == []
    assert await response.text() == "ab"
    assert events == ["shutdown"]


async def test_startup_failure_is_the_requests_error():
    async def app(scope, receive, send):
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(RuntimeError, match="no database"):
        await asgi.fetch(app, make_request(), {})


async def test_exception_before_response_raises_out_of_fetch():
    async def app(scope, receive, send):
        if scope["type"] == "http":
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await asgi.fetch(app, make_request(), {})


async def test_no_response_is_an_error():
    async def app(scope, receive, send):
        return None

    with pytest.raises(RuntimeError, match="did not generate a response"):
        await asgi.fetch(app, make_request(), {})


async def test_exception_mid_stream_is_logged_and_the_body_ends(caplog):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ValueError("broke mid-stream")

    response = await asgi.fetch(app, make_request(), {})
    with caplog.at_level(logging.ERROR, logger="asgi"):
        assert await response.text() == "partial"
    assert "after response started" in caplog.text
    assert "broke mid-stream" in caplog.text


async def test_abandoned_stream_cancels_the_app_and_shuts_down():
    events = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return await lifespan(receive, send, events)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for _ in range(1000):
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    response = await asgi.fetch(app, make_request(), {})
    body = response.body_iter()
    assert await anext(body) == b"x"
    await body.aclose()  # the client went away
    assert events == ["cancelled", "shutdown"]


async def test_null_body_status_and_repeated_headers():
    app, _ = simple_app(body=b"", status=304, headers=[(b"set-cookie", b"a=1"),
                                                       (b"set-cookie", b"b=2")])
    response = await asgi.fetch(app, make_request(), {})
    assert response.status == 304
    assert response.headers.getSetCookie() == ["a=1", "b=2"]


async def test_entrypoint_serves_the_app_and_refuses_websockets():
    app, seen = simple_app()
    default = asgi.entrypoint(app)
    assert issubclass(default, WorkerEntrypoint)
    env = AttrDict(X=1)
    response = await default(None, env).fetch(make_request())
    assert await response.text() == "ok"
    assert seen["scope"]["env"] is env
    upgrade = make_request(headers={"Upgrade": "websocket"})
    with pytest.raises(NotEmulatedError, match="WebSockets"):
        await default(None, env).fetch(upgrade)


async def test_fastapi_app_with_env_dependency_and_errors():
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int, env=asgi.env):  # Cloudflare's form
        return {"id": item_id, "message": env.MESSAGE}

    @app.get("/fail")
    async def fail():
        raise ZeroDivisionError("bug")

    env = AttrDict(MESSAGE="from env")
    response = await asgi.fetch(app, make_request("http://localhost/items/7"), env)
    assert response.status == 200
    assert response.headers.get("content-type") == "application/json"
    assert await response.json() == {"id": 7, "message": "from env"}
    # Starlette answers its own 500 before it re-raises: that is what Cloudflare returns
    failed = await asgi.fetch(app, make_request("http://localhost/fail"), env)
    assert failed.status == 500
    assert await failed.text() == "Internal Server Error"


def test_request_must_be_the_workers_request():
    with pytest.raises(TypeError, match=r"asgi.fetch\(\) takes the worker's request"):
        asyncio.run(asgi.fetch(simple_app()[0], "https://example.com/", {}))
