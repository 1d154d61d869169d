"""Clients that leave while AI work is queued or running: the engine is idle afterwards.

Every path that reaches an engine is covered (issue 10, item 4): the worker port
(`env.AI.run` non-streamed and streamed), the REST run endpoint and the OpenAI chat
endpoint, each as JSON and as SSE, driven in-process through raw ASGI messages; the
scripted, vLLM and TGI engines behind the REST run endpoint (their fake servers count
upstream disconnects); and `edge dev` over real sockets. The llama.cpp engine's side (a
cancelled caller's sequence leaves the batch and the queue) is tested with the engine
(`tests/bindings/ai/engines/test_llamacpp.py`).
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
from typing import Any

import pytest

from bindings.ai.binding import Ai
from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.engines.tgi import create as create_tgi
from bindings.ai.engines.vllm import create as create_vllm
from bindings.ai.rest import create_app as create_rest_app
from bindings.ai.routing import Route
from bindings.ai.service import AiService
from emulator.app import create_app
from emulator.local_settings import AiSettings
from emulator.sdk import Response
from tests.fakes.fake_tgi import FakeTgi
from tests.fakes.fake_vllm import FakeVllm
from tests.fakes.loopback import serve

MODEL = "@cf/meta/llama-2-7b-chat-fp16"
AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
TOKENS = 300
REPLY = " ".join(f"w{i}" for i in range(TOKENS))
RUN_PATH = f"/client/v4/accounts/acc/ai/run/{MODEL}"
CHAT_PATH = "/client/v4/accounts/acc/ai/v1/chat/completions"


def scripted() -> tuple[ScriptedEngine, AiService]:
    engine = ScriptedEngine(text=REPLY, delay=0.01)  # 3 s for the whole reply
    service = AiService.from_settings(AiSettings.from_specs(["*=scripted:echo"]))
    service.set_engine("*", engine)
    return engine, service


class Leaving:
    """One ASGI request whose client sends its body, then leaves when told to."""

    def __init__(self, app: Any, method: str, path: str, body: dict[str, Any] | None) -> None:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = [(b"host", b"127.0.0.1:8787"), (b"content-type", b"application/json")]
        if raw:
            headers.append((b"content-length", str(len(raw)).encode()))
        self.scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": method, "scheme": "http", "path": path,
            "raw_path": path.encode(), "query_string": b"", "headers": headers,
            "server": ("127.0.0.1", 8787), "client": ("127.0.0.1", 50000),
        }  # fmt: skip
        self.pending = [{"type": "http.request", "body": raw, "more_body": False}]
        self.left = asyncio.Event()
        self.sent: list[dict[str, Any]] = []
        self.task = asyncio.ensure_future(app(self.scope, self.receive, self.send))

    async def receive(self) -> dict[str, Any]:
        if self.pending:
            return self.pending.pop(0)
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if not self.left.is_set():  # uvicorn drops what is sent after a disconnect
            self.sent.append(message)

    @property
    def started(self) -> bool:
        return any(m["type"] == "http.response.start" for m in self.sent)

    async def leave(self) -> None:
        self.left.set()
        await asyncio.wait_for(self.task, 2)  # the app ends at once, not after the reply


async def until(condition, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


async def assert_idle_after(request: Leaving, engine: ScriptedEngine) -> None:
    await until(lambda: engine.tokens_generated >= 3)  # the generation is running
    await request.leave()
    assert engine.active == 0
    stopped = engine.tokens_generated
    await asyncio.sleep(0.1)  # ten token times: nothing more comes
    assert engine.tokens_generated == stopped < TOKENS


def worker_app(service: AiService, *, stream: bool, lines: list) -> Any:
    ai = Ai(service)

    class Worker:
        name = "disconnects"
        has_scheduled = False

        async def fetch(self, request, ctx):
            inputs = {"prompt": "tell me", "max_tokens": TOKENS, "stream": stream}
            result = await ai.run(MODEL, inputs)
            if stream:
                return Response(result, headers={"content-type": "text/event-stream"})
            return Response.json(result)

    return create_app(lambda: Worker(), log_request=lambda *line: lines.append(line))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_worker_request(stream):
    engine, service = scripted()
    lines: list = []
    request = Leaving(worker_app(service, stream=stream, lines=lines), "GET", "/", None)
    await assert_idle_after(request, engine)
    assert request.started is stream  # a JSON answer never started: nobody to send it to
    assert lines[0][2:5:2] == ((499 if not stream else 200), "client closed")


REST_CASES = {
    "run-json": (RUN_PATH, {"prompt": "tell me", "max_tokens": TOKENS}),
    "run-sse": (RUN_PATH, {"prompt": "tell me", "max_tokens": TOKENS, "stream": True}),
    "openai-json": (CHAT_PATH, {"model": MODEL, "max_tokens": TOKENS,
                                "messages": [{"role": "user", "content": "tell me"}]}),
    "openai-sse": (CHAT_PATH, {"model": MODEL, "max_tokens": TOKENS, "stream": True,
                               "messages": [{"role": "user", "content": "tell me"}]}),
}  # fmt: skip


@pytest.mark.parametrize("case", REST_CASES)
async def test_rest_request(case):
    engine, service = scripted()
    path, body = REST_CASES[case]
    request = Leaving(create_rest_app(service), "POST", path, body)
    await assert_idle_after(request, engine)
    assert request.started is case.endswith("sse")


@pytest.mark.parametrize("backend", ["vllm", "tgi"])
async def test_http_engines_close_their_upstream_request(backend):
    """A non-streamed REST run whose client left: the engine's upstream request is closed
    (the GPU server stops generating), on vLLM's and TGI's own protocols."""
    fake = FakeVllm(reply=REPLY, token_delay=0.01) if backend == "vllm" else FakeTgi()
    if backend == "tgi":
        fake.reply, fake.token_delay = REPLY, 0.01
    with serve(fake.app()) as server:
        if backend == "vllm":
            engine = create_vllm(Route(AWQ, "vllm", urls=(server.url,), served_model=fake.model))
        else:
            engine = create_tgi(Route(AWQ, "tgi", urls=(server.url,)))
        service = AiService.from_settings(AiSettings.from_specs(["*=scripted:echo"]))
        service.set_engine(AWQ, engine)
        path = f"/client/v4/accounts/acc/ai/run/{AWQ}"
        body = {"messages": [{"role": "user", "content": "tell me"}], "max_tokens": TOKENS}
        request = Leaving(create_rest_app(service), "POST", path, body)
        await until(lambda: fake.tokens_sent >= 3)
        await request.leave()
        await until(lambda: fake.disconnects == 1, 2)  # the server saw its client leave
        sent = fake.tokens_sent
        await asyncio.sleep(0.1)
        await engine.close()
        assert fake.completed == 0
        assert fake.tokens_sent == sent < TOKENS


WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        result = await self.env.AI.run("@cf/meta/llama-2-7b-chat-fp16",
                                       {"prompt": "tell me", "max_tokens": 300})
        return Response.json(result)
"""


async def test_edge_dev_over_real_sockets(tmp_path):
    """Six clients of `edge dev` leave their non-streamed `env.AI.run` requests (the
    issue's scenario): generation stops at once and the next request is served at once."""
    from emulator.banner import make_console
    from emulator.dev import DevOptions, DevServer

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "entry.py").write_text(WORKER)
    (tmp_path / "wrangler.toml").write_text(
        'name = "leaving"\nmain = "src/entry.py"\ncompatibility_date = "2025-06-01"\n'
        '[ai]\nbinding = "AI"\n'
    )
    options = DevOptions(path=tmp_path, port=0, api=False, interactive=False, reload=False,
                         ai_routes=["*=scripted:echo"])  # fmt: skip
    server = DevServer(options, console=make_console(file=io.StringIO(), width=200))
    await server.start()
    try:
        engine, _ = scripted()
        server.worker_env()["AI"].service.set_engine("*", engine)
        host, port = server.url.removeprefix("http://").split(":")
        writers = []
        for _ in range(6):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            await writer.drain()
            writers.append((reader, writer))
        await until(lambda: engine.active == 6)
        for _, writer in writers:
            writer.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )  # a reset, as a killed client sends
            writer.close()
        await until(lambda: engine.active == 0, 2)
        stopped = engine.tokens_generated
        await asyncio.sleep(0.1)
        assert engine.tokens_generated == stopped < 6 * TOKENS // 4
    finally:
        await server.aclose()
