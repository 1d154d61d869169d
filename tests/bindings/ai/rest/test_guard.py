"""Host, Origin and token checks in front of every REST API path (DNS rebinding, CSRF)."""

from __future__ import annotations

import httpx
import pytest

from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.rest import create_app
from bindings.ai.rest.guard import COOKIE
from tests.bindings.ai.rest.support import ACCOUNT, FP16_MODEL, TOKEN, scripted_service

RUN = f"/client/v4/accounts/{ACCOUNT}/ai/run/{FP16_MODEL}"
CHAT = f"/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
PAGE = f"/models/{FP16_MODEL}"


def client(app, base: str = "http://127.0.0.1:8788") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


def open_app(engine: ScriptedEngine | None = None, **options):
    service = scripted_service()
    if engine is not None:
        service.set_engine("*", engine)
    return create_app(service, **options)


async def test_without_a_token_a_rebound_host_is_refused_on_every_path(monkeypatch):
    monkeypatch.delenv("EDGE_API_HOSTS", raising=False)
    engine = ScriptedEngine(text="never")
    async with client(open_app(engine), "http://rebind.evil.example:8788") as http:
        run = await http.post(RUN, json={"prompt": "x"})
        chat = await http.post(CHAT, json={"model": FP16_MODEL, "messages": []})
        page = await http.get(PAGE)
        spec = await http.get("/openapi.json")
    assert run.status_code == 403
    assert run.json()["errors"][0]["code"] == 9109
    assert "rebind.evil.example:8788" in run.json()["errors"][0]["message"]
    assert chat.status_code == 403 and chat.json()["error"]["code"] == 9109
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert spec.status_code == 403
    assert engine.requests == []


@pytest.mark.parametrize(
    "base", ["http://localhost:8788", "http://127.0.0.1:8788", "http://[::1]:8788",
             "http://chat.localhost"]
)
async def test_without_a_token_loopback_hosts_are_served(base):
    async with client(open_app(), base) as http:
        assert (await http.post(RUN, json={"prompt": "hi"})).status_code == 200
        assert (await http.get(PAGE)).status_code == 200


async def test_configured_hosts_are_served(monkeypatch):
    monkeypatch.setenv("EDGE_API_HOSTS", "devbox.lan, tunnel.example")
    async with client(open_app(), "http://tunnel.example") as http:
        assert (await http.post(RUN, json={"prompt": "hi"})).status_code == 200
    async with client(open_app(allowed_hosts=("devbox.lan",)), "http://tunnel.example") as http:
        assert (await http.post(RUN, json={"prompt": "hi"})).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},  # sandboxed frames, file:// pages
        {"origin": "http://127.0.0.1.evil.example"},
        {"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"},
        {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"},  # a form POST
    ],
)
async def test_cross_site_browser_requests_are_refused(headers):
    engine = ScriptedEngine(text="never")
    async with client(open_app(engine)) as http:
        response = await http.post(RUN, json={"prompt": "x"}, headers=headers)
    assert response.status_code == 403 and response.json()["errors"][0]["code"] == 9109
    assert engine.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://127.0.0.1:8788", "sec-fetch-site": "same-origin"},  # the playground
        {"origin": "http://localhost:3000", "sec-fetch-site": "cross-site"},  # a local app
        {"sec-fetch-site": "none"},  # typed into the address bar
    ],
)
async def test_same_origin_and_local_browser_requests_are_served(headers):
    async with client(open_app()) as http:
        response = await http.post(RUN, json={"prompt": "hi"}, headers=headers)
    assert response.status_code == 200


async def test_following_a_link_to_a_page_from_another_site_works():
    headers = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}
    async with client(open_app()) as http:
        assert (await http.get(PAGE, headers=headers)).status_code == 200


async def test_with_a_token_every_path_needs_it():
    app = open_app(api_token=TOKEN)
    bearer = {"authorization": f"Bearer {TOKEN}"}
    async with client(app) as http:
        for path in ("/", PAGE, "/openapi.json", f"/client/v4/accounts/{ACCOUNT}/ai/models/search"):
            refused = await http.get(path)
            assert refused.status_code == 401, path
            assert (await http.get(path, headers=bearer)).status_code == 200, path
        page = await http.get(PAGE)
    assert "?token=" in page.text  # says how to sign in


async def test_with_a_token_any_host_is_served():
    bearer = {"authorization": f"Bearer {TOKEN}"}
    async with client(open_app(api_token=TOKEN), "http://gpu-box.lan:8788") as http:
        response = await http.post(RUN, json={"prompt": "hi"}, headers=bearer)
    assert response.status_code == 200


async def test_signing_in_sets_a_cookie_that_is_not_the_token():
    async with client(open_app(api_token=TOKEN)) as http:
        wrong = await http.get(f"{PAGE}?token=nope")
        assert wrong.status_code == 401 and COOKIE not in http.cookies
        signed = await http.get(f"{PAGE}?token={TOKEN}&x=1")
        assert signed.status_code == 303
        assert signed.headers["location"] == f"{PAGE}?x=1"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert TOKEN not in cookie
        assert (await http.get(PAGE)).status_code == 200
        run = await http.post(RUN, json={"prompt": "hi"})  # the playground's request
        assert run.status_code == 200
        wrong_bearer = await http.post(
            RUN, json={"prompt": "hi"}, headers={"authorization": "Bearer nope"}
        )
        assert wrong_bearer.status_code == 401
