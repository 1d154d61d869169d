"""Outbound fetch against a real loopback server (uvicorn) and an in-process ASGI app."""

import asyncio
import gzip

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route

from emulator.sdk import Request, Response, fetch, using_client
from tests.fakes.loopback import free_port, serve


async def echo(request: StarletteRequest):
    body = await request.body()
    return JSONResponse({
        "method": request.method,
        "body": body.decode(),
        "x": request.headers.getlist("x-multi"),
        "ct": request.headers.get("content-type"),
    })


async def stream(request: StarletteRequest):
    async def gen():
        yield b"first\n"
        for _ in range(500):  # bounded: the test sets the flag after reading chunk one
            if request.app.state.release:
                break
            await asyncio.sleep(0.01)
        yield b"second\n"

    return StreamingResponse(gen(), media_type="text/plain")


async def gz(request: StarletteRequest):
    return StarletteResponse(gzip.compress(b"unzipped!"), headers={"content-encoding": "gzip"})


async def cookies(request: StarletteRequest):
    response = PlainTextResponse("ok")
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    return response


app = Starlette(routes=[
    Route("/echo", echo, methods=["GET", "POST", "PUT"]),
    Route("/stream", stream),
    Route("/gz", gz),
    Route("/cookies", cookies),
    Route("/go", lambda r: RedirectResponse("/echo", status_code=302)),
])
app.state.release = False


@pytest.fixture(scope="module")
def server():
    with serve(app) as srv:
        yield srv


async def test_fetch_post_json_round_trip(server):
    resp = await fetch(f"{server.url}/echo", method="POST",
                       headers=[("x-multi", "1"), ("x-multi", "2")], body='{"a": 1}')
    assert isinstance(resp, Response)
    assert resp.status == 200 and resp.ok
    assert resp.url == f"{server.url}/echo"
    data = await resp.json()
    assert data.method == "POST" and data.body == '{"a": 1}'
    assert data.x == ["1", "2"]
    assert data.ct == "text/plain;charset=UTF-8"


async def test_fetch_accepts_a_request_and_streamed_body(server):
    async def gen():
        yield b"str"
        yield b"eamed"

    req = Request(f"{server.url}/echo", "PUT", body=gen())
    data = await (await fetch(req)).json()
    assert data == {"method": "PUT", "body": "streamed", "x": [], "ct": None}


async def test_fetch_streams_the_response_body(server):
    app.state.release = False
    resp = await fetch(f"{server.url}/stream")
    it = resp.body_iter()
    assert await it.__anext__() == b"first\n"  # arrives while the server still waits
    app.state.release = True
    assert [c async for c in it] == [b"second\n"]


async def test_fetch_decodes_gzip_and_drops_stale_encoding_headers(server):
    resp = await fetch(f"{server.url}/gz")
    assert await resp.text() == "unzipped!"
    assert not resp.headers.has("content-encoding")
    assert not resp.headers.has("content-length")


async def test_fetch_keeps_each_set_cookie(server):
    resp = await fetch(f"{server.url}/cookies")
    assert [c.split(";")[0] for c in resp.headers.getSetCookie()] == ["a=1", "b=2"]


async def test_redirect_modes(server):
    followed = await fetch(f"{server.url}/go")
    assert followed.redirected and followed.url.endswith("/echo")
    manual = await fetch(f"{server.url}/go", redirect="manual")
    assert manual.status == 302 and manual.headers.get("location") == "/echo"
    await manual.aclose()
    with pytest.raises(TypeError, match="redirect"):
        await fetch(f"{server.url}/go", redirect="error")
    with pytest.raises(TypeError):
        await fetch(f"{server.url}/go", redirect="sometimes")


async def test_connection_refused_is_os_error():
    with pytest.raises(OSError, match="failed"):
        await fetch(f"http://127.0.0.1:{free_port()}/")


async def test_using_client_routes_to_an_in_process_app():
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    with using_client(client):
        resp = await fetch("http://inproc/echo", method="POST", body=b"hi")
        assert (await resp.json()).body == "hi"
    await client.aclose()
