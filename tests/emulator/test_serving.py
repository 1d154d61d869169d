"""Sockets and uvicorn servers for edge dev."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from emulator import serving


def test_bind_picks_a_free_port_and_reports_one_in_use():
    sock = serving.bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        sock.listen()
        with pytest.raises(serving.ServeError, match=f"127.0.0.1:{port} is already in use"):
            serving.bind("127.0.0.1", port)
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("ip", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8787"),
        ("0.0.0.0", "http://localhost:8787"),
        ("::1", "http://[::1]:8787"),
        ("::", "http://localhost:8787"),
    ],
)
def test_url_for(ip, url):
    assert serving.url_for(ip, 8787) == url


async def test_serve_answers_until_told_to_exit():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"served"})

    sock = serving.bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server, task = await serving.serve(app, sock)
    assert server.started
    async with httpx.AsyncClient() as client:
        r = await client.get(f"http://127.0.0.1:{port}/", timeout=10)
    assert r.text == "served" and "server" not in r.headers
    server.should_exit = True
    await asyncio.wait_for(task, timeout=10)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # no longer listening


@pytest.mark.parametrize(
    "name", ["localhost", "LOCALHOST.", "app.localhost", "127.0.0.1", "127.1.2.3", "[::1]", "::1"]
)
def test_loopback_names(name):
    assert serving.is_loopback(name)


@pytest.mark.parametrize("name", ["evil.example", "localhost.evil.example", "10.0.0.1", "0.0.0.0"])
def test_other_names_are_not_loopback(name):
    assert not serving.is_loopback(name)
