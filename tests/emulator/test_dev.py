"""DevServer in-process: real config and worker loading, real uvicorn on a free loopback port."""

from __future__ import annotations

import asyncio
import io
import re
import socket
from pathlib import Path

import httpx
import pytest

from emulator.banner import make_console
from emulator.dev import DevError, DevOptions, DevServer

WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("{text} " + self.env.GREETING + " " + str(getattr(self.env, "TOKEN", "-")))
"""

CONFIG = """
name = "devtest"
main = "src/entry.py"
compatibility_date = "2025-06-01"

[vars]
GREETING = "hi"

[env.staging.vars]
GREETING = "staging"
"""


def make_worker(root: Path, text: str = "v1", config: str = CONFIG) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "entry.py").write_text(WORKER.replace("{text}", text))
    (root / "wrangler.toml").write_text(config)
    return root


class Session:
    def __init__(self, server: DevServer, out: io.StringIO) -> None:
        self.server = server
        self.out = out
        self.client = httpx.AsyncClient(base_url=server.url, timeout=10)

    async def get(self, path: str = "/") -> httpx.Response:
        return await self.client.get(path)

    def output(self) -> str:
        return self.out.getvalue()


@pytest.fixture
async def dev(tmp_path):
    sessions = []

    async def start(root: Path | None = None, **kwargs) -> Session:
        out = io.StringIO()
        kwargs.setdefault("reload", False)
        options = DevOptions(path=root or tmp_path, port=0, api=False, interactive=False, **kwargs)
        server = DevServer(options, console=make_console(file=out, width=200))
        await server.start()
        session = Session(server, out)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        await session.client.aclose()
        await session.server.aclose()


async def test_serves_the_worker_with_vars_overrides_and_banner(dev, tmp_path):
    make_worker(tmp_path)
    s = await dev(vars={"GREETING": "overridden"})
    r = await s.get("/")
    assert r.status_code == 200 and r.text == "v1 overridden -"
    out = s.output()
    assert "devtest" in out and "GREETING" in out
    assert f"[wrangler:info] Ready on {s.server.url}" in out
    assert "GET / 200 OK" in out


async def test_env_and_dev_vars_for_that_env(dev, tmp_path):
    make_worker(tmp_path)
    (tmp_path / ".dev.vars").write_text("TOKEN=base\n")
    (tmp_path / ".dev.vars.staging").write_text("TOKEN=staging-secret\n")
    s = await dev(env="staging")
    r = await s.get("/")
    assert r.text == "v1 staging staging-secret"
    assert "staging-secret" not in s.output()  # secrets are listed, never printed
    assert "Using secrets defined in" in s.output() and ".dev.vars.staging" in s.output()


async def test_reload_good_broken_fixed(dev, tmp_path):
    make_worker(tmp_path)
    s = await dev()
    assert (await s.get()).text.startswith("v1")

    make_worker(tmp_path, "v2")
    assert await s.server.reload() is True
    assert (await s.get()).text.startswith("v2")
    assert s.output().count("following bindings") == 1  # same bindings: not printed again

    (tmp_path / "src" / "entry.py").write_text("def broken(:\n")
    assert await s.server.reload() is False
    assert (await s.get()).text.startswith("v2")  # the last good version keeps serving
    assert "Reload failed" in s.output() and "SyntaxError" in s.output()

    (tmp_path / "wrangler.toml").write_text("name = 3\n")  # a bad config also keeps it
    assert await s.server.reload() is False
    assert (await s.get()).text.startswith("v2")

    make_worker(
        tmp_path,
        "v3",
        config=CONFIG.replace('GREETING = "hi"', 'GREETING = "hi"\nNEW_VAR = "x"', 1),
    )
    before = s.output().count("following bindings")
    assert await s.server.reload() is True
    assert (await s.get()).text.startswith("v3")
    assert s.output().count("following bindings") == before + 1  # the table again, with NEW_VAR
    assert "NEW_VAR" in s.output()


async def test_saving_a_file_reloads_through_the_watcher(dev, tmp_path):
    make_worker(tmp_path)
    s = await dev(reload=True)
    assert (await s.get()).text.startswith("v1")
    for i in range(100):  # bounded: the watcher thread may still be starting
        make_worker(tmp_path, f"saved{i}")
        await asyncio.sleep(0.05)
        if (await s.get()).text.startswith("saved"):
            break
    assert (await s.get()).text.startswith("saved")
    assert "Reloaded" in s.output()


async def test_a_worker_that_fails_at_start_serves_its_error_until_fixed(dev, tmp_path):
    make_worker(tmp_path)
    (tmp_path / "src" / "entry.py").write_text("import does_not_exist_anywhere\n")
    s = await dev()
    r = await s.get()
    assert r.status_code == 500
    assert "does_not_exist_anywhere" in r.text
    make_worker(tmp_path, "fixed")
    assert await s.server.reload() is True
    assert (await s.get()).text.startswith("fixed")


async def test_bad_config_at_start_is_a_dev_error(tmp_path):
    make_worker(tmp_path, config='name = "x"\nmain = 5\n')
    server = DevServer(
        DevOptions(path=tmp_path, port=0, api=False, interactive=False),
        console=make_console(file=io.StringIO()),
    )
    with pytest.raises(DevError, match=r"wrangler\.toml"):
        await server.start()
    await server.aclose()


async def test_port_in_use_is_a_dev_error(tmp_path):
    make_worker(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = DevServer(
            DevOptions(path=tmp_path, port=port, api=False, interactive=False, reload=False),
            console=make_console(file=io.StringIO()),
        )
        with pytest.raises(DevError, match="already in use"):
            await server.start()
        await server.aclose()


async def test_host_settings_state_dir_and_shared_services_closed(dev, tmp_path):
    make_worker(tmp_path)
    s = await dev(ai_routes=["*=scripted:echo"], persist_to=tmp_path / "state")
    host = s.server.host
    assert [route.engine for route in host.settings.ai.cli] == ["scripted"]
    assert host.settings.root == tmp_path.resolve()
    assert host.settings.ai.file == ()
    assert host.state_dir == (tmp_path / "state").resolve()

    class Service:
        closed = False

        async def close(self):
            Service.closed = True

    service = host.shared("probe", Service)
    assert await s.server.reload() is True
    assert host.shared("probe", Service) is service  # survives reloads
    await s.server.aclose()
    assert Service.closed


async def test_default_state_dir_is_dot_wrangler_state(dev, tmp_path):
    make_worker(tmp_path)
    s = await dev()
    assert s.server.host.state_dir == tmp_path.resolve() / ".wrangler" / "state"


async def test_ai_binding_is_shown_and_its_service_survives_reloads(dev, tmp_path):
    make_worker(tmp_path, config=CONFIG.replace("[vars]", '[ai]\nbinding = "AI"\n\n[vars]'))
    s = await dev(ai_routes=["*=scripted:echo"])
    out = s.output()
    assert "env.AI" in out and "scripted" in out  # the binding's describe() lines
    service = s.server.worker_env()["AI"].service
    assert s.server.host.services()["ai"] is service  # the one the REST API port serves
    assert await s.server.reload() is True
    assert s.server.worker_env()["AI"].service is service



async def test_an_edited_edge_toml_reroutes_the_live_ai_service(dev, tmp_path, monkeypatch):
    monkeypatch.delenv("EDGE_AI_ROUTES", raising=False)
    make_worker(tmp_path, config=CONFIG.replace("[vars]", '[ai]\nbinding = "AI"\n\n[vars]'))
    edge_toml = tmp_path / "edge.toml"
    edge_toml.write_text('[ai.routes."*"]\nengine = "scripted"\noptions = { text = "one" }\n')
    s = await dev()
    service = s.server.worker_env()["AI"].service
    model = "@cf/meta/llama-2-7b-chat-fp16"
    assert (await service.run(model, {"prompt": "x"}))["response"] == "one"

    edge_toml.write_text('[ai.routes."*"]\nengine = "scripted"\noptions = { text = "two" }\n')
    assert await s.server.reload() is True
    assert s.server.worker_env()["AI"].service is service  # rerouted in place, not rebuilt
    assert (await service.run(model, {"prompt": "x"}))["response"] == "two"

    edge_toml.write_text("[ai.routes\n")  # broken: the last good routes keep serving
    assert await s.server.reload() is False
    assert (await service.run(model, {"prompt": "x"}))["response"] == "two"
    assert "edge.toml" in s.output()


LAZY_PROBE = """
import asyncio, io, sys
from emulator.banner import make_console
from emulator.dev import DevOptions, DevServer

async def main():
    server = DevServer(DevOptions(path=sys.argv[1], port=0, interactive=False, reload=False),
                       console=make_console(file=io.StringIO()))
    await server.start()
    heavy = ("bindings.ai.service", "bindings.ai.catalogue", "llama_cpp", "jinja2", "jsonschema")
    print(sorted(m for m in sys.modules if m.startswith(heavy)))
    await server.aclose()

asyncio.run(main())
"""


def test_a_worker_without_ai_starts_without_importing_the_ai_stack(tmp_path):
    import subprocess
    import sys

    make_worker(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


async def test_rest_api_without_a_token_stays_on_loopback(tmp_path):
    make_worker(tmp_path, config=CONFIG.replace("[vars]", '[ai]\nbinding = "AI"\n\n[vars]'))
    options = DevOptions(
        path=tmp_path, ip="0.0.0.0", port=0, api_port=0, interactive=False, reload=False,
        ai_routes=["*=scripted:echo"],
    )
    out = io.StringIO()
    server = DevServer(options, console=make_console(file=out, width=200))
    await server.start()
    try:
        assert server.api_url.startswith("http://127.0.0.1:")
        assert "--api-token" in out.getvalue()
    finally:
        await server.aclose()


async def test_rest_api_with_a_token_requires_it(tmp_path):
    make_worker(tmp_path, config=CONFIG.replace("[vars]", '[ai]\nbinding = "AI"\n\n[vars]'))
    options = DevOptions(
        path=tmp_path, ip="0.0.0.0", port=0, api_port=0, interactive=False, reload=False,
        ai_routes=["*=scripted:echo"], api_token="s3cret",
    )
    server = DevServer(options, console=make_console(file=io.StringIO(), width=200))
    await server.start()
    port = server.api_url.rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}/client/v4/accounts/x/ai/run/@cf/meta/llama-2-7b-chat-fp16"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            denied = await client.post(url, json={"prompt": "hi"})
            allowed = await client.post(
                url, json={"prompt": "hi"}, headers={"authorization": "Bearer s3cret"}
            )
        assert denied.status_code == 401 and denied.json()["success"] is False
        assert allowed.status_code == 200 and allowed.json()["result"]["response"] == "hi"
    finally:
        await server.aclose()


async def test_missing_worker_dependencies_get_one_line_with_the_command(dev, tmp_path):
    make_worker(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "w"\ndependencies = ["edge-surely-not-a-package>=2"]\n'
    )
    s = await dev()
    assert (await s.get("/")).status_code == 200  # the worker serves all the same
    [line] = [x for x in s.output().splitlines() if "worker dependencies not met" in x]
    assert "edge-surely-not-a-package>=2 (not installed)" in line
    assert "-m pip install 'edge-surely-not-a-package>=2'" in line


async def test_install_deps_installs_then_checks_again(dev, tmp_path, monkeypatch):
    from emulator import dependencies

    make_worker(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["edge-fake-dep"]\n')
    installed = []

    def install(missing):
        installed.extend(m.requirement for m in missing)
        (tmp_path / "pyproject.toml").write_text("[project]\ndependencies = []\n")
        return True

    monkeypatch.setattr(dependencies, "install", install)
    s = await dev(install_deps=True)
    assert installed == ["edge-fake-dep"]
    assert "worker dependencies not met" not in s.output()


BUSY_WORKER = """
import time
from workers import Response, WorkerEntrypoint

def crunch(seconds):
    end = time.thread_time() + seconds  # CPU seconds, however loaded the machine is
    while time.thread_time() < end:
        pass

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        crunch(0.25)
        return Response("done")
"""


async def test_a_worker_blocking_the_loop_is_shown_where_and_its_cpu_time_logged(
    dev, tmp_path, monkeypatch
):
    monkeypatch.setenv("EDGE_BLOCKED_MS", "100")
    make_worker(tmp_path, config=CONFIG + "\n[limits]\ncpu_ms = 50\n")
    (tmp_path / "src" / "entry.py").write_text(BUSY_WORKER)
    s = await dev()
    assert (await s.get("/")).text == "done"
    out = s.output()
    assert "has been blocked" in out and "crunch" in out and "entry.py" in out
    assert "turns again" in out
    cpu = float(re.search(r"GET / 200 OK \([\d.]+ms, cpu ([\d.]+)ms\)", out).group(1))
    assert 240 <= cpu < 400
    assert "over [limits] cpu_ms = 50" in out
