"""The WSGI adapter (`from workers import wsgi`): PEP 3333 environ, lazy bodies, streaming,
`close()`, and `run_sync` from the app's thread."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from emulator.ffi.blocking import run_sync
from emulator.sdk import Request, WorkerEntrypoint, wsgi
from emulator.sdk.attrdict import AttrDict


def hello_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_environ_follows_pep_3333_as_cloudflare_builds_it():
    env = AttrDict(X=1)
    request = Request(
        "https://example.com:8443/caf%C3%A9/x?q=a%20b",
        method="POST",
        headers=[("Content-Type", "text/plain"), ("X-Multi", "a"), ("X-Multi", "b")],
        body=b"12345",
    )
    environ = wsgi.build_environ(request, env)
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["SCRIPT_NAME"] == ""
    assert environ["PATH_INFO"] == "/café/x".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "q=a%20b"
    assert environ["SERVER_NAME"] == "example.com"
    assert environ["SERVER_PORT"] == "8443"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "5"  # the body's size is known
    assert environ["HTTP_X_MULTI"] == "a, b"
    assert environ["wsgi.multithread"] is False
    assert environ["workers.env"] is env
    assert environ["wsgi.input"].read() == b"12345"


async def test_buffered_response_and_repeated_cookies():
    def app(environ, start_response):
        start_response("201 Created", [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        return [b"made"]

    response = await wsgi.fetch(app, Request("http://localhost/"), {})
    assert (response.status, response.status_text) == (201, "Created")
    assert response.fixed_body == b"made"  # one chunk: sent whole, with a length
    assert response.headers.getSetCookie() == ["a=1", "b=2"]


async def test_streamed_body_is_read_lazily_by_wsgi_input():
    pulled = []

    async def chunks():
        for part in (b"ab", b"cd", b"ef"):
            pulled.append(part)
            yield part

    def app(environ, start_response):
        first = environ["wsgi.input"].read(2)
        seen_then = list(pulled)
        rest = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [first + b"|" + rest + b"|" + str(len(seen_then)).encode()]

    request = Request("http://localhost/", method="POST", body=chunks())
    response = await wsgi.fetch(app, request, {})
    assert await response.text() == "ab|cdef|1"
    assert request.body_used


async def test_streaming_iterable_late_start_response_write_and_close():
    closed = []
    produced = []

    class Body:
        def __init__(self, start_response):
            self.start_response = start_response

        def __iter__(self):
            yield b""  # an app may yield empty chunks before deciding
            write = self.start_response("200 OK", [("Content-Type", "text/plain")])
            write(b"written-")
            for i in range(3):
                produced.append(i)
                yield b"%d" % i

        def close(self):
            closed.append(True)

    response = await wsgi.fetch(lambda environ, sr: Body(sr), Request("http://l/"), {})
    assert response.status == 200
    assert response.fixed_body is None  # streamed
    assert produced == [0]  # only the first chunk was needed to start the response
    assert await response.text() == "written-012"
    assert closed == [True]


async def test_close_is_called_when_the_client_leaves():
    closed = []

    class Endless:
        def __iter__(self):
            while True:
                yield b"x"

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [])
        return Endless()

    response = await wsgi.fetch(app, Request("http://l/"), {})
    body = response.body_iter()
    assert await anext(body) == b"x"
    await body.aclose()
    assert closed == [True]


async def test_errors_before_the_first_chunk_raise_and_close():
    closed = []

    class Failing:
        def __iter__(self):
            raise LookupError("no template")
            yield b""

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [])
        return Failing()

    with pytest.raises(LookupError, match="no template"):
        await wsgi.fetch(app, Request("http://l/"), {})
    assert closed == [True]
    with pytest.raises(RuntimeError, match="did not call start_response"):
        await wsgi.fetch(lambda environ, sr: [b"x"], Request("http://l/"), {})


async def test_start_response_twice_is_an_error_unless_exc_info():
    def app(environ, start_response):
        start_response("200 OK", [])
        try:
            raise ValueError("late")
        except ValueError:
            import sys

            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b""]

    with pytest.raises(ValueError, match="late"):  # headers already set: re-raised
        await wsgi.fetch(app, Request("http://l/"), {})


async def test_null_body_status_has_no_body():
    def app(environ, start_response):
        start_response("204 No Content", [])
        return [b""]

    response = await wsgi.fetch(app, Request("http://l/"), {})
    assert response.status == 204
    assert response.fixed_body == b""


async def test_run_sync_lets_the_app_call_async_bindings():
    async def lookup(key):
        await asyncio.sleep(0)
        return {"id": key}

    def app(environ, start_response):
        row = run_sync(lookup(7))
        start_response("200 OK", [])
        return [str(row["id"]).encode()]

    response = await wsgi.fetch(app, Request("http://l/"), {})
    assert await response.text() == "7"


async def test_one_app_runs_in_one_thread_at_a_time_switching_at_run_sync():
    inside = []
    overlaps = []
    lock = threading.Lock()

    def app(environ, start_response):
        with lock:
            inside.append(1)
            if len(inside) > 1:
                overlaps.append(True)
        time.sleep(0.02)  # synchronous work: nothing else of this app may run meanwhile
        with lock:
            inside.pop()
        run_sync(asyncio.sleep(0.02))  # here other requests may run, as under JSPI
        start_response("200 OK", [])
        return [b"ok"]

    responses = await asyncio.gather(*(wsgi.fetch(app, Request("http://l/"), {}) for _ in range(4)))
    assert [r.status for r in responses] == [200] * 4
    assert overlaps == []


async def test_flask_app_and_entrypoint():
    from flask import Flask, request

    app = Flask("t")

    @app.post("/echo")
    def echo():
        env = request.environ["workers.env"]
        return {"got": request.get_json(), "greeting": env.GREETING}

    default = wsgi.entrypoint(app)
    assert issubclass(default, WorkerEntrypoint)
    request_ = Request(
        "http://localhost/echo", method="POST", headers={"content-type": "application/json"},
        body=b'{"a": 1}',
    )
    response = await default(None, AttrDict(GREETING="hi")).fetch(request_)
    assert await response.json() == {"got": {"a": 1}, "greeting": "hi"}
