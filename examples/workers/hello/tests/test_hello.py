"""How to test your own worker: in-process, no server, no port (the `edge_worker` fixture
comes with edge's pytest plugin; run `pytest examples/workers/hello`).

`edge_worker()` loads the worker from the nearest wrangler.toml above this file, with a
fresh state folder per test; options are those of `emulator.testing.load_worker`.
"""

import pytest


async def test_home_page_uses_the_greeting_var(edge_worker):
    worker = edge_worker()
    response = await worker.fetch("/")
    assert response.status == 200
    assert response.headers.get("content-type").startswith("text/plain")
    assert await response.text() == "Hello, world!"


@pytest.mark.parametrize(
    ("options", "greeting"),
    [
        ({"env": "staging"}, "Hello from staging"),  # like `edge dev --env staging`
        ({"vars": {"GREETING": "Bonjour"}}, "Bonjour"),  # like `--var GREETING:Bonjour`
    ],
)
async def test_environments_and_var_overrides(edge_worker, options, greeting):
    worker = edge_worker(**options)
    assert await (await worker.fetch("/")).text() == f"{greeting}, world!"


async def test_secrets_override(edge_worker):
    body = await (await edge_worker(secrets={"API_TOKEN": "t0ken"}).fetch("/env")).json()
    assert body == {"greeting": "Hello", "has_api_token": True}


async def test_json_echo(edge_worker):
    response = await edge_worker().fetch("/echo", json={"name": "edge", "tags": [1, 2]})
    assert await response.json() == {"you_sent": {"name": "edge", "tags": [1, 2]},
                                     "method": "POST"}


async def test_stream_arrives_line_by_line(edge_worker):
    response = await edge_worker().fetch("/stream?n=3&delay=0")
    lines = [line async for line in response.iter_lines()]
    assert lines == ["3...", "2...", "1...", "liftoff!"]


async def test_redirect_is_not_followed(edge_worker):
    response = await edge_worker().fetch("/redirect")
    assert response.status == 302
    assert response.headers.get("location") == "http://localhost/"


async def test_unknown_route_is_404(edge_worker):
    assert (await edge_worker().fetch("/nope")).status == 404


async def test_errors_raise_in_the_test(edge_worker):
    # the worker's own exception and traceback, not a 500 page (raise_errors=False for that)
    with pytest.raises(RuntimeError, match="fails on purpose"):
        await edge_worker().fetch("/error")
    page = await edge_worker(raise_errors=False).fetch("/error")
    assert page.status == 500


async def test_wait_until_work_finishes_before_fetch_returns(edge_worker):
    worker = edge_worker(wait_until="defer")
    await worker.fetch("/later")
    assert worker.pending == 1  # still running, as after a response on Cloudflare
    await worker.drain()
    assert worker.pending == 0


async def test_cron_trigger(edge_worker):
    worker = edge_worker()
    result = await worker.scheduled(cron="*/5 * * * *", scheduled_time=1_700_000_000_000)
    assert result.outcome == "ok"
    runs = await (await worker.fetch("/scheduled-runs")).json()
    assert runs == [{"cron": "*/5 * * * *", "time": 1_700_000_000_000}]
