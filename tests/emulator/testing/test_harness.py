"""emulator.testing.harness: the in-process TestWorker on small workers written per test."""

import asyncio
import json
import textwrap
import traceback
from pathlib import Path

import pytest

import emulator
from emulator.config import ConfigError
from emulator.sdk import Request
from emulator.testing import load_worker
from emulator.worker import WorkerLoadError

WORKER = '''
import asyncio, json
from urllib.parse import urlparse
from workers import Response, WorkerEntrypoint

LOG = []

async def chunks(n):
    for i in range(n):
        LOG.append(f"chunk {i}")
        yield f"part {i}\\n"
        await asyncio.sleep(0)

async def background(tag, fail=False, gate=None):
    if gate is not None:
        await gate.wait()
    await asyncio.sleep(0.001)
    if fail:
        raise ValueError(f"background {tag} failed")
    LOG.append(f"background {tag}")

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlparse(request.url).path
        if path == "/":
            return Response(f"{self.env.GREETING} from {self.env.NAME}")
        if path == "/request":
            body = await request.text()
            return Response.json({"method": request.method, "url": request.url,
                                  "headers": dict(request.headers.items()), "body": body})
        if path == "/secret":
            return Response(self.env.TOKEN)
        if path == "/stream":
            return Response(chunks(3), headers={"content-type": "text/plain"})
        if path == "/later":
            self.ctx.wait_until(background("later"))
            return Response("ok")
        if path == "/later-fails":
            self.ctx.wait_until(background("x", fail=True))
            return Response("ok")
        if path == "/stream-then-log":
            gate = asyncio.Event()

            async def body():
                yield "streamed"
                gate.set()  # the background work needs the whole body sent first

            self.ctx.wait_until(background("after stream", gate=gate))
            return Response(body())
        if path == "/stream-fails":
            async def broken():
                yield "first"
                raise OSError("the body generator broke")

            return Response(broken())
        if path == "/fail":
            helper_that_fails()
        if path == "/log":
            return Response.json(LOG)
        if path == "/kv":
            await self.env.KV.put("k", "v")
            return Response(await self.env.KV.get("k"))
        if path == "/custom":
            return Response(self.env.FAKE.hello())
        if path == "/cf":
            return Response.json(dict(request.cf))
        return Response("nope", status=404)

    async def scheduled(self, controller, env, ctx):
        LOG.append(f"cron {controller.cron}")
        if controller.cron == "fail":
            controller.no_retry()
            raise RuntimeError("cron failed")
        if controller.cron == "noretry":
            controller.no_retry()
        ctx.wait_until(background(controller.cron))

def helper_that_fails():
    raise KeyError("missing thing")
'''

CONFIG = '''
name = "t"
main = "src/entry.py"
compatibility_date = "2025-06-01"
compatibility_flags = ["python_workers"]
[vars]
GREETING = "Hello"
NAME = "top"
[[kv_namespaces]]
binding = "KV"
id = "kv1"
[env.staging.vars]
GREETING = "Hi"
NAME = "staging"
'''


@pytest.fixture
def project(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "entry.py").write_text(textwrap.dedent(WORKER))
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    return tmp_path


async def test_fetch_path_text_status_headers(project):
    async with load_worker(project) as worker:
        response = await worker.fetch("/")
        assert response.status == 200 and response.ok
        assert await response.text() == "Hello from top"
        assert response.headers.get("content-length") == str(len("Hello from top"))
        assert (await worker.fetch("/missing")).status == 404


async def test_env_vars_and_secrets_overrides(project):
    (project / ".dev.vars").write_text("TOKEN=from-file\n")
    async with load_worker(project, env="staging") as worker:
        assert await (await worker.fetch("/")).text() == "Hi from staging"
        assert await (await worker.fetch("/secret")).text() == "from-file"
    async with load_worker(project, vars={"NAME": "override"}, secrets={"TOKEN": "s3"}) as w:
        assert await (await w.fetch("/")).text() == "Hello from override"
        assert await (await w.fetch("/secret")).text() == "s3"


async def test_json_body_method_and_headers(project):
    async with load_worker(project) as worker:
        response = await worker.fetch("/request", json={"a": [1, 2]}, headers={"X-Test": "yes"})
        seen = await response.json()
        assert seen["method"] == "POST"
        assert json.loads(seen["body"]) == {"a": [1, 2]}
        assert seen["headers"]["content-type"] == "application/json"
        assert seen["headers"]["x-test"] == "yes"
        assert seen["headers"]["host"] == "localhost"
        assert seen["url"] == "http://localhost/request"
        put = await (await worker.fetch("https://example.com/request?q=1", method="PUT",
                                        body="raw")).json()
        assert (put["method"], put["url"], put["body"]) == ("PUT", "https://example.com/request?q=1",
                                                            "raw")
        req = Request("http://x.test/request", method="DELETE")
        assert (await (await worker.fetch(req)).json())["method"] == "DELETE"
        req = Request("http://x.test/request", headers={"x-kept": "1"})
        seen = await (await worker.fetch(req, method="PATCH", json=[1])).json()
        assert (seen["method"], seen["body"]) == ("PATCH", "[1]")
        assert seen["headers"]["x-kept"] == "1"
        assert seen["headers"]["content-type"] == "application/json"


async def test_bad_fetch_arguments_are_clear(project):
    async with load_worker(project) as worker:
        with pytest.raises(TypeError, match="use json="):
            await worker.fetch("/request", body={"a": 1})
        with pytest.raises(TypeError, match="not both"):
            await worker.fetch("/request", json={}, body="x")
        with pytest.raises(TypeError, match="a path, a URL or a workers"):
            await worker.fetch(42)


async def test_streamed_body_arrives_incrementally(project):
    async with load_worker(project) as worker:
        response = await worker.fetch("/stream")
        assert response.streamed
        module = worker.worker.module
        seen = []
        async for chunk in response.iter_bytes():
            # the worker has produced exactly the chunks received so far: nothing buffered
            seen.append(chunk)
            assert module.LOG.count(f"chunk {len(seen) - 1}") == 1
            assert f"chunk {len(seen)}" not in module.LOG
        assert seen == [b"part 0\n", b"part 1\n", b"part 2\n"]
        assert await response.text() == "part 0\npart 1\npart 2\n"  # re-readable after


async def test_iter_lines_and_early_close(project):
    async with load_worker(project) as worker:
        lines = [line async for line in (await worker.fetch("/stream")).iter_lines()]
        assert lines == ["part 0", "part 1", "part 2"]
        response = await worker.fetch("/stream")
        async with response:
            async for _ in response.iter_bytes():
                break
        assert worker.worker.module.LOG.count("chunk 2") == 1  # only from the first request


async def test_worker_exception_is_raised_with_the_workers_traceback(project):
    async with load_worker(project) as worker:
        with pytest.raises(KeyError, match="missing thing") as info:
            await worker.fetch("/fail")
        frames = traceback.extract_tb(info.value.__traceback__)
        names = [frame.name for frame in frames]
        assert names[-2:] == ["fetch", "helper_that_fails"]
        package = str(Path(emulator.__file__).parent) + "/"
        assert [f.name for f in frames if f.filename.startswith(package)] == []


async def test_streamed_body_failure_is_raised_with_the_workers_frames(project):
    async with load_worker(project) as worker:
        response = await worker.fetch("/stream-fails")
        chunks = []
        with pytest.raises(OSError, match="body generator broke") as info:
            async for chunk in response.iter_bytes():
                chunks.append(chunk)
        assert chunks == [b"first"]
        frames = traceback.extract_tb(info.value.__traceback__)
        assert frames[-1].name == "broken"
        package = str(Path(emulator.__file__).parent) + "/"
        assert [f.name for f in frames if f.filename.startswith(package)] == []


async def test_raise_errors_false_gives_the_dev_error_page(project):
    async with load_worker(project, raise_errors=False) as worker:
        response = await worker.fetch("/fail", headers={"accept": "application/json"})
        assert response.status == 500
        body = await response.json()
        assert "missing thing" in json.dumps(body)


async def test_wait_until_is_awaited_before_fetch_returns(project):
    async with load_worker(project) as worker:
        await worker.fetch("/later")
        assert "background later" in worker.worker.module.LOG
        with pytest.raises(ValueError, match="background x failed"):
            await worker.fetch("/later-fails")


async def test_wait_until_after_a_streamed_body_is_awaited_when_it_is_read(project):
    async with load_worker(project) as worker:
        response = await worker.fetch("/stream-then-log")
        assert "background after stream" not in worker.worker.module.LOG
        assert await response.text() == "streamed"
        assert "background after stream" in worker.worker.module.LOG


async def test_wait_until_deferred_until_drain(project):
    worker = load_worker(project, wait_until="defer")
    try:
        await worker.fetch("/later")
        await worker.fetch("/later-fails")
        assert worker.pending == 2
        assert "background later" not in worker.worker.module.LOG
        with pytest.raises(ValueError, match="background x failed"):
            await worker.drain()
        assert "background later" in worker.worker.module.LOG
        assert worker.pending == 0
    finally:
        await worker.close()


async def test_deferred_failures_surface_on_close(project):
    worker = load_worker(project, wait_until="defer")
    await worker.fetch("/later-fails")
    with pytest.raises(ValueError, match="background x failed"):
        await worker.close()
    assert not worker.state_dir.exists()  # cleaned up even though draining failed


def test_wait_until_mode_is_checked(project):
    with pytest.raises(ValueError, match="wait_until must be"):
        load_worker(project, wait_until="later")


async def test_scheduled_runs_cron_and_waits(project):
    async with load_worker(project) as worker:
        result = await worker.scheduled(cron="*/5 * * * *", scheduled_time=1000)
        assert (result.outcome, result.no_retry) == ("ok", False)
        log = worker.worker.module.LOG
        assert log[-2:] == ["cron */5 * * * *", "background */5 * * * *"]
        assert (await worker.scheduled(cron="noretry")).noRetry is True
        with pytest.raises(RuntimeError, match="cron failed"):
            await worker.scheduled(cron="fail")


async def test_state_is_fresh_per_worker_and_removed_on_close(project):
    worker = load_worker(project)
    state = worker.state_dir
    assert await (await worker.fetch("/kv")).text() == "v"
    assert state.exists() and not state.is_relative_to(project)
    await worker.close()
    assert not state.exists()


async def test_persist_to_keeps_state(project, tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    async with load_worker(project, persist_to=state) as worker:
        await worker.fetch("/kv")
    assert state.exists() and any(state.rglob("*"))


async def test_bindings_override_env_entries(project):
    class Fake:
        def hello(self):
            return "from a fake"

    async with load_worker(project, bindings={"FAKE": Fake()}) as worker:
        assert await (await worker.fetch("/custom")).text() == "from a fake"


def test_load_errors_are_the_loaders(project, tmp_path):
    (project / "src" / "entry.py").write_text("def nothing(): pass\n")
    with pytest.raises(WorkerLoadError, match="no handler found"):
        load_worker(project)
    with pytest.raises(ConfigError):
        load_worker(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="has no AI binding"):
        load_worker(project, ai={"*": "hi"})


async def test_concurrent_fetches(project):
    async with load_worker(project) as worker:
        responses = await asyncio.gather(*(worker.fetch("/") for _ in range(20)))
        assert {await r.text() for r in responses} == {"Hello from top"}


async def test_cf_reaches_the_worker_and_head_has_no_body(project):
    async with load_worker(project) as worker:
        seen = await (await worker.fetch("/cf", cf={"country": "NL"})).json()
        assert seen == {"country": "NL"}
        head = await worker.fetch("/", method="HEAD")
        assert head.status == 200 and await head.bytes() == b""  # as a client sees it
        assert head.headers.get("content-length") == str(len("Hello from top"))


async def test_an_unread_stream_is_closed_with_the_worker(project):
    worker = load_worker(project)
    await worker.fetch("/stream")  # never read
    await worker.close()
    assert worker.worker.module.LOG.count("chunk 1") == 0


async def test_leaving_an_ai_stream_early_stops_the_generation():
    from bindings.ai.engines.base import Usage
    from bindings.ai.engines.scripted import ScriptedEngine

    examples = Path(__file__).resolve().parents[3] / "examples" / "workers" / "chat"
    produced, stopped = [], []

    class Endless(ScriptedEngine):
        async def generate(self, request):
            try:
                for i in range(10_000):
                    produced.append(i)
                    yield f"w{i} "
                yield Usage(prompt_tokens=1, completion_tokens=10_000)
            finally:
                stopped.append(len(produced))

    async with load_worker(examples, ai=Endless()) as worker:
        ask = {"messages": [{"role": "user", "content": "go"}]}
        response = await worker.fetch("/stream", json=ask)
        assert response.headers.get("content-type") == "text/event-stream", await response.text()
        async with response:
            async for event in response.iter_sse():
                if event.json()["response"] == "w2 ":
                    break
        assert stopped and stopped[0] < 10  # the app saw the client leave: upstream closed
        assert len(produced) < 10
