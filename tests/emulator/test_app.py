"""The ASGI app, driven directly through ASGI messages (no server, no sockets).

Workers here are small stand-ins with the `Worker` interface (`fetch`, `scheduled`,
`name`, `has_scheduled`); the end-to-end tests use real workers through `edge dev`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from emulator.app import StreamAborted, create_app
from emulator.sdk import Response


class StubWorker:
    name = "stub"
    has_fetch = True

    def __init__(self, fetch=None, scheduled=None) -> None:
        self._fetch = fetch
        self._scheduled = scheduled
        self.has_scheduled = scheduled is not None

    async def fetch(self, request, ctx):
        return await self._fetch(request, ctx)

    async def scheduled(self, controller, ctx):
        await self._scheduled(controller, ctx)


class Client:
    """Drives one ASGI request: feeds `body_chunks` then a disconnect when told to."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def request(
        self,
        method: str = "GET",
        path: str = "/",
        *,
        query: str = "",
        headers: list[tuple[str, str]] = (),
        body_chunks: list[bytes] = (),
        on_send=None,
        disconnect: asyncio.Event | None = None,
    ) -> dict[str, Any]:
        raw_headers = [(b"host", b"testserver")] + [
            (k.lower().encode(), v.encode()) for k, v in headers
        ]
        if body_chunks:
            total = sum(len(c) for c in body_chunks)
            raw_headers.append((b"content-length", str(total).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": raw_headers,
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 1234),
        }
        pending = [
            {"type": "http.request", "body": c, "more_body": i < len(body_chunks) - 1}
            for i, c in enumerate(body_chunks)
        ] or [{"type": "http.request", "body": b"", "more_body": False}]
        self.received_messages = 0
        result: dict[str, Any] = {"status": None, "headers": {}, "chunks": []}

        async def receive() -> dict[str, Any]:
            if pending:
                self.received_messages += 1
                return pending.pop(0)
            if disconnect is not None:
                await disconnect.wait()
            else:
                await asyncio.Event().wait()  # a client that stays connected
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                result["status"] = message["status"]
                result["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
                result["raw_headers"] = list(message["headers"])
            elif message["type"] == "http.response.body":
                result["chunks"].append(message.get("body", b""))
                result["more_body"] = message.get("more_body", False)
            if on_send is not None:
                await on_send(message)

        await asyncio.wait_for(self.app(scope, receive, send), timeout=10)
        result["body"] = b"".join(result["chunks"])
        return result


def make_app(worker, **kwargs):
    return create_app(lambda: worker, **kwargs)


async def test_plain_response_has_status_headers_and_length():
    async def fetch(request, ctx):
        return Response("hello " + request.url, status=201, headers={"x-thing": "1"})

    out = await Client(make_app(StubWorker(fetch))).request(path="/a/b", query="q=1")
    assert out["status"] == 201
    assert out["body"] == b"hello http://testserver/a/b?q=1"
    assert out["headers"]["x-thing"] == "1"
    assert out["headers"]["content-length"] == str(len(out["body"]))


async def test_json_body_is_read_from_several_chunks():
    async def fetch(request, ctx):
        data = await request.json()
        return Response.json({"echo": data, "method": request.method})

    payload = json.dumps({"name": "edge", "n": [1, 2, 3]}).encode()
    out = await Client(make_app(StubWorker(fetch))).request(
        "POST",
        headers=[("content-type", "application/json")],
        body_chunks=[payload[:5], payload[5:12], payload[12:]],
    )
    assert out["status"] == 200
    assert json.loads(out["body"]) == {"echo": {"name": "edge", "n": [1, 2, 3]}, "method": "POST"}


async def test_request_body_is_not_read_unless_the_worker_asks():
    async def fetch(request, ctx):
        return Response("ignored the body")

    client = Client(make_app(StubWorker(fetch)))
    out = await client.request("POST", body_chunks=[b"a", b"b"])
    assert out["body"] == b"ignored the body"
    assert client.received_messages == 0


async def test_streamed_body_goes_out_before_the_last_chunk_is_produced():
    first_sent = asyncio.Event()

    async def produce():
        yield b"first"
        # the next chunk only exists once the client has the first one: a buffering
        # server would deadlock here (and the bounded wait_for in the client would fail)
        await first_sent.wait()
        yield b"second"

    async def fetch(request, ctx):
        return Response(produce(), headers={"content-type": "text/plain"})

    async def on_send(message):
        if message.get("body") == b"first":
            first_sent.set()

    out = await Client(make_app(StubWorker(fetch))).request(on_send=on_send)
    assert [c for c in out["chunks"] if c] == [b"first", b"second"]
    assert "content-length" not in out["headers"]
    assert out["more_body"] is False


async def test_client_disconnect_closes_the_response_body():
    closed = asyncio.Event()
    produced = []
    disconnect = asyncio.Event()

    async def produce():
        try:
            for i in range(10_000):
                produced.append(i)
                yield f"token {i}\n".encode()
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    async def fetch(request, ctx):
        return Response(produce())

    async def on_send(message):
        if len(produced) == 3:
            disconnect.set()

    lines = []
    app = make_app(StubWorker(fetch), log_request=lambda *a: lines.append(a))
    await Client(app).request(on_send=on_send, disconnect=disconnect)
    assert closed.is_set()
    assert len(produced) < 10_000
    assert lines[0][4] == "client closed"


async def test_client_disconnect_cancels_the_worker_but_not_its_wait_until_work():
    """As on Cloudflare: the request's tasks are cancelled, `ctx.wait_until` work runs on."""
    disconnect = asyncio.Event()
    events = []

    cancelled = asyncio.Event()

    async def background():
        await cancelled.wait()  # outlives the cancelled fetch
        events.append("wait_until done")

    async def fetch(request, ctx):
        ctx.wait_until(background())
        disconnect.set()
        try:
            await asyncio.sleep(10)  # e.g. a long non-streamed env.AI.run
        except asyncio.CancelledError:
            events.append("fetch cancelled")
            cancelled.set()
            raise
        return Response("never sent")

    lines = []
    app = make_app(StubWorker(fetch), log_request=lambda *a: lines.append(a))
    out = await Client(app).request(disconnect=disconnect)
    assert out["status"] is None  # nothing went out to a client that left
    assert events == ["fetch cancelled", "wait_until done"]
    assert lines[0][2] == 499 and lines[0][4] == "client closed"


async def test_uncaught_exception_gives_html_page_and_reports_it():
    async def fetch(request, ctx):
        raise ValueError("boom <script>")

    reported = []
    app = make_app(StubWorker(fetch), report_error=lambda *a: reported.append(a))
    out = await Client(app).request(path="/fail", headers=[("accept", "text/html,*/*")])
    assert out["status"] == 500
    assert out["headers"]["content-type"].startswith("text/html")
    page = out["body"].decode()
    assert "ValueError" in page and "boom &lt;script&gt;" in page
    assert "<script>" not in page.split("<body>")[1].split("</header>")[0]
    assert "GET http://testserver/fail" in page
    assert "test_app.py" in page  # the traceback's frames
    assert reported and isinstance(reported[0][0], ValueError) and reported[0][1] == "GET"


@pytest.mark.parametrize(
    ("accept", "kind"), [("application/json", "application/json"), ("", "text/plain")]
)
async def test_error_format_follows_accept(accept, kind):
    async def fetch(request, ctx):
        raise KeyError("missing")

    app = make_app(StubWorker(fetch), report_error=lambda *a: None)
    out = await Client(app).request(headers=[("accept", accept)] if accept else [])
    assert out["status"] == 500
    assert out["headers"]["content-type"].startswith(kind)
    if kind == "application/json":
        data = json.loads(out["body"])
        assert data["error"]["type"] == "KeyError"
        assert data["request"]["method"] == "GET"
    else:
        assert b"KeyError: 'missing'" in out["body"]


async def test_one_failing_request_does_not_affect_another():
    gate = asyncio.Event()

    async def fetch(request, ctx):
        if request.url.endswith("/bad"):
            await gate.wait()
            raise RuntimeError("only me")
        gate.set()
        await asyncio.sleep(0)
        return Response("fine")

    app = make_app(StubWorker(fetch), report_error=lambda *a: None)
    bad, good = await asyncio.gather(
        Client(app).request(path="/bad"), Client(app).request(path="/good")
    )
    assert bad["status"] == 500
    assert good["status"] == 200 and good["body"] == b"fine"
    again = await Client(app).request(path="/good")
    assert again["body"] == b"fine"


async def test_wait_until_runs_after_the_response_is_sent():
    events = []

    async def background():
        events.append("background")

    async def fetch(request, ctx):
        ctx.wait_until(background())
        return Response("ok")

    async def on_send(message):
        if message["type"] == "http.response.body":
            events.append("sent")

    await Client(make_app(StubWorker(fetch))).request(on_send=on_send)
    assert events == ["sent", "background"]


@pytest.mark.parametrize("raise_errors", [False, True])
async def test_mid_stream_failure_is_reported_and_aborts_the_connection(raise_errors):
    """A server drops the connection (StreamAborted); an in-process client with
    raise_errors gets the worker's own exception, unreported."""

    async def produce():
        yield b"partial"
        raise RuntimeError("generator broke")

    async def fetch(request, ctx):
        return Response(produce())

    reported = []
    app = make_app(
        StubWorker(fetch), report_error=lambda *a: reported.append(a), raise_errors=raise_errors
    )
    with pytest.raises(RuntimeError if raise_errors else StreamAborted) as info:
        await Client(app).request()
    if raise_errors:
        assert str(info.value) == "generator broke" and reported == []
    else:
        assert isinstance(reported[0][0], RuntimeError)


@pytest.mark.parametrize("path", ["/__scheduled", "/cdn-cgi/handler/scheduled"])
async def test_test_scheduled_paths_run_the_scheduled_handler(path):
    seen = []

    async def scheduled(controller, ctx):
        seen.append((controller.cron, controller.scheduledTime))

    async def fetch(request, ctx):
        return Response("fetch")

    app = make_app(StubWorker(fetch, scheduled), test_scheduled=True)
    out = await Client(app).request(path=path, query="cron=*/5+*+*+*+*&time=1000")
    assert out["status"] == 200
    assert out["body"] == b"Ran scheduled event"
    assert seen == [("*/5 * * * *", 1000.0)]


async def test_scheduled_paths_reach_fetch_without_the_flag():
    async def fetch(request, ctx):
        return Response("fetch saw " + request.url)

    out = await Client(make_app(StubWorker(fetch))).request(path="/__scheduled")
    assert out["body"] == b"fetch saw http://testserver/__scheduled"


async def test_scheduled_without_handler_says_so():
    async def fetch(request, ctx):
        return Response("fetch")

    app = make_app(StubWorker(fetch), test_scheduled=True)
    out = await Client(app).request(path="/__scheduled")
    assert out["status"] == 404
    assert b"no scheduled handler" in out["body"]


async def test_every_request_goes_to_the_current_worker_and_is_logged():
    def worker_saying(text):
        async def fetch(request, ctx):
            return Response(text, status=202)

        return StubWorker(fetch)

    holder = {"worker": worker_saying("v1")}
    lines = []
    app = create_app(lambda: holder["worker"], log_request=lambda *a: lines.append(a))
    first = await Client(app).request(path="/x")
    holder["worker"] = worker_saying("v2")
    second = await Client(app).request("POST", path="/y")
    assert (first["body"], second["body"]) == (b"v1", b"v2")
    assert [(m, p, s) for m, p, s, *_ in lines] == [("GET", "/x", 202), ("POST", "/y", 202)]
    assert all(ms >= 0 and 0 <= cpu <= ms for _, _, _, ms, _, cpu in lines)


def burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def test_the_log_line_has_the_handlers_own_cpu_time_not_its_waits_or_others():
    """CPU time is counted over the handler's steps: not its awaits, nor the CPU another
    request burns on the same loop meanwhile (what a thread_time() delta would count)."""

    async def fetch(request, ctx):
        if request.url.endswith("/busy"):
            burn(0.06)
            return Response("busy")
        burn(0.02)
        await asyncio.sleep(0.03)  # the other request burns its CPU meanwhile
        return Response("waits")

    lines = []
    app = make_app(StubWorker(fetch), log_request=lambda *a: lines.append(a))
    waiting = asyncio.ensure_future(Client(app).request(path="/waits"))
    await asyncio.sleep(0.005)
    await Client(app).request(path="/busy")
    await waiting
    cpu = {line[1]: line[5] for line in lines}
    assert 55 <= cpu["/busy"] < 90
    assert 18 <= cpu["/waits"] < 45  # not 20 + 60


async def test_a_request_over_limits_cpu_ms_is_warned_about(caplog):
    async def fetch(request, ctx):
        burn(0.03)
        return Response("ok")

    app = make_app(StubWorker(fetch), cpu_limit_ms=10)
    out = await Client(app).request(path="/slow")
    assert out["status"] == 200  # answered: a warning, not Cloudflare's 1102
    warning = next(r for r in caplog.records if r.name == "edge.cpu").getMessage()
    assert "GET /slow used" in warning and "[limits] cpu_ms = 10" in warning
    assert "1102" in warning and "Worker exceeded CPU time limit" in warning


async def test_no_content_status_has_no_length_and_cookies_stay_separate():
    async def fetch(request, ctx):
        if request.url.endswith("/cookies"):
            headers = [("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2; Path=/")]
            return Response("ok", headers=headers)
        return Response(None, status=204)

    out = await Client(make_app(StubWorker(fetch))).request(path="/empty")
    assert out["status"] == 204 and out["body"] == b""
    assert "content-length" not in out["headers"]
    out = await Client(make_app(StubWorker(fetch))).request(path="/cookies")
    cookies = [v for k, v in out["raw_headers"] if k == b"set-cookie"]
    assert cookies == [b"a=1; Path=/", b"b=2; Path=/"]


async def test_real_worker_returning_a_dict_gets_a_500_naming_the_handler(tmp_path):
    from bindings.registry import BindingHost, build_env
    from emulator.config import load_config
    from emulator.worker import load_worker

    (tmp_path / "entry.py").write_text(
        "from workers import WorkerEntrypoint\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n"
        "        return {'not': 'a response'}\n"
    )
    (tmp_path / "wrangler.toml").write_text('name = "dict"\nmain = "entry.py"\n')
    config = load_config(tmp_path)
    worker = load_worker(config, build_env(config, BindingHost(state_dir=tmp_path)))
    reported = []
    app = make_app(worker, report_error=lambda *a: reported.append(a))
    out = await Client(app).request()
    assert out["status"] == 500
    assert b"Default.fetch returned dict" in out["body"]
    assert isinstance(reported[0][0], TypeError)


async def test_a_failing_error_reporter_still_gives_the_500_page():
    async def fetch(request, ctx):
        raise ValueError("original problem")

    def broken_reporter(*args):
        raise RuntimeError("terminal is gone")

    app = make_app(StubWorker(fetch), report_error=broken_reporter)
    out = await Client(app).request()
    assert out["status"] == 500 and b"ValueError: original problem" in out["body"]


async def test_raise_errors_lets_the_workers_exception_out_instead_of_the_page():
    async def fetch(request, ctx):
        raise KeyError("mine")

    sent = []

    async def on_send(message):
        sent.append(message)

    app = make_app(StubWorker(fetch), raise_errors=True, report_error=lambda *a: sent.append(a))
    with pytest.raises(KeyError, match="mine"):
        await Client(app).request(on_send=on_send)
    assert sent == []  # no page, no report: the in-process client shows it


async def test_the_drain_hook_decides_how_wait_until_work_is_awaited():
    calls = []

    async def drain(ctx, raise_errors):
        calls.append((ctx.pending, raise_errors))
        await ctx.drain(raise_errors=raise_errors)

    async def fetch(request, ctx):
        ctx.wait_until(asyncio.sleep(0))
        return Response("ok")

    async def scheduled(controller, ctx):
        ctx.wait_until(asyncio.sleep(0))
        controller.no_retry()

    app = make_app(StubWorker(fetch, scheduled), drain=drain)
    await Client(app).request()
    controller = await app.run_scheduled("* * * * *", 5.0)
    assert calls == [(1, False), (1, True)]  # a cron run's outcome waits for its work
    assert (controller.cron, controller.scheduledTime) == ("* * * * *", 5.0)
    assert controller.retry is False
