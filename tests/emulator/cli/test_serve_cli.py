"""`edge ai serve | ps | stop` on a fake GPU host: output, every error, and end to end."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import httpx
import pytest
from click.testing import CliRunner

from emulator.cli import main
from tests.fakes.loopback import free_port
from tests.support.edge_dev import COMMAND, EdgeDev
from tests.support.fake_host import FakeHost, routes_in, write_user_entries

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
CHAT = os.path.join(os.path.dirname(__file__), "../../../examples/workers/chat")


@pytest.fixture
def host(tmp_path, monkeypatch):
    project = tmp_path / "project"
    write_user_entries(project / "models")
    (project / "edge.toml").write_text('[ai]\ncatalogue = ["./models"]\n')
    monkeypatch.chdir(project)
    fake = FakeHost(tmp_path, monkeypatch)
    fake.project = project
    yield fake
    fake.close()  # containers and this test's native servers (not other workers')


def invoke(*args):
    return CliRunner().invoke(main, ["ai", *args], catch_exceptions=False)


def test_dry_run_prints_the_exact_commands_and_the_route(host, monkeypatch):
    monkeypatch.setenv("MY_TOKEN", "hf_never_printed")
    result = invoke("serve", AWQ, "--dry-run", "--hf-token-env", "MY_TOKEN", "--port", "8100")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "docker pull docker.io/vllm/vllm-openai:v0.34.0" in lines
    (run,) = [line for line in lines if " docker run " in f" {line}"]
    assert run.startswith('HF_TOKEN="$MY_TOKEN" docker run -d --name edge-ai-hf-thebloke-')
    assert "--gpus device=0" in run or "--gpus '\"device=0\"'" in run
    assert run.endswith("docker.io/vllm/vllm-openai:v0.34.0 --model "
                        "TheBloke/Llama-2-13B-chat-AWQ --quantization awq --dtype float16 "
                        "--max-model-len 4096")
    assert "-e HF_TOKEN " in run and "-p 127.0.0.1:8100:8000" in run
    assert "hf_never_printed" not in result.output
    assert f'#   [ai.routes."{AWQ}"]' in lines and '#   engine = "vllm"' in lines
    assert host.runs() == []  # nothing started


def test_dry_run_without_a_gpu_here_still_prints(host):
    host.set(FAKE_GPUS="")
    result = invoke("serve", AWQ, "--dry-run", "--engine", "tgi", "--runtime", "podman")
    assert result.exit_code == 0
    assert "# note: no GPU visible" in result.stdout
    assert "--device=nvidia.com/gpu=all" in result.stdout
    assert "ghcr.io/huggingface/text-generation-inference:3.3.5 --model-id " in result.stdout


@pytest.mark.parametrize(("setup", "args", "message"), [
    (lambda h: h.remove("docker"), [], "docker is not installed (not found on PATH)"),
    (lambda h: h.set(FAKE_DOCKER_DOWN="1"), [], "cannot talk to the Docker daemon"),
    (lambda h: h.set(FAKE_GPUS=""), [], "no GPU visible: `nvidia-smi -L` says 'No devices"),
    (lambda h: h.remove("nvidia-smi"), [], "no GPU visible: nvidia-smi is not installed"),
    (lambda h: h.set(FAKE_GPUS="NVIDIA A100-SXM4-80GB:81920"), ["--gpus", "device=1"],
     "GPU 1 is not visible (nvidia-smi lists 0)"),
    (lambda h: h.set(FAKE_DOCKER_PULL_FAIL="1"), [],
     "could not pull docker.io/vllm/vllm-openai:v0.34.0: Error response from daemon: "
     "manifest for docker.io/vllm/vllm-openai:v0.34.0 not found"),
    (lambda h: h.set(FAKE_GPUS="NVIDIA L4:23034:8.9"), ["@cf/test/llama-2-70b-fp16"],
     "@cf/test/llama-2-70b-fp16 needs about 156.5 GiB of GPU memory, more than the 22 GiB"),
    (lambda h: None, ["@cf/test/no-serving"],
     "@cf/test/no-serving has no serving data edge can launch"),
    (lambda h: None, ["@cf/nobody/nothing"], "5007"),
    (lambda h: None, ["--hf-token-env", "NOT_SET_ANYWHERE"],
     "--hf-token-env NOT_SET_ANYWHERE: NOT_SET_ANYWHERE is not set"),
    (lambda h: None, ["@cf/test/embed-small", "--engine", "tgi"],
     "cannot be served by tgi: its serving data lists tei, vllm"),
])
def test_every_error_says_what_is_wrong(host, setup, args, message):
    setup(host)
    models = [a for a in args if a.startswith("@")] or [AWQ]
    result = invoke("serve", *models, *[a for a in args if not a.startswith("@")])
    assert result.exit_code == 1
    assert message in result.stderr
    assert host.runs() == []


def test_a_taken_port(host):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = invoke("serve", AWQ, "--port", str(port))
    assert result.exit_code == 1
    assert f"port {port} is taken on 127.0.0.1" in result.stderr


def test_a_container_that_exits_shows_its_last_lines(host):
    host.set(FAKE_CONTAINER_EXIT="1")
    result = invoke("serve", AWQ, "--port", str(free_port()))
    assert result.exit_code == 1
    assert "stopped before it was ready: exited (1)" in result.stderr
    assert "torch.OutOfMemoryError: CUDA out of memory" in result.stderr
    assert AWQ not in routes_in(host.project)


def test_serve_ps_stop(host):
    result = invoke("serve", AWQ, "--port", str(free_port()), "--timeout", "60")
    assert result.exit_code == 0, result.output
    assert f"{AWQ} -> vllm http://127.0.0.1:" in result.stdout
    route = routes_in(host.project)[AWQ]
    assert httpx.get(route["urls"][0] + "/health").status_code == 200

    ps = invoke("ps")
    assert ps.exit_code == 0
    row = next(line for line in ps.stdout.splitlines() if AWQ in line)
    assert "vllm (docker)" in row and "running" in row and " ok " in row
    assert str(host.project / "edge.toml") in row

    stop = invoke("stop", AWQ)
    assert stop.exit_code == 0
    assert "stopped edge-ai-hf-thebloke-llama-2-13b-chat-awq-vllm-0-" in stop.stdout
    assert "removed its route" in stop.stdout
    assert AWQ not in routes_in(host.project)
    assert "no servers started by edge" in invoke("ps").stdout
    again = invoke("stop", AWQ)
    assert again.exit_code == 1 and "nothing to stop" in again.stdout


def test_emit_writes_files_and_keeps_other_peoples(host):
    result = invoke("serve", AWQ, "--emit", "compose", "--replicas", "2")
    assert result.exit_code == 0
    written = host.project / "edge-ai.compose.yaml"
    assert written.read_text().startswith("# generated by `edge ai serve --emit compose`")
    assert invoke("serve", AWQ, "--emit", "compose").exit_code == 0  # its own: replaced
    mine = host.project / "k8s.yaml"
    mine.write_text("kind: Mine\n")
    refused = invoke("serve", AWQ, "--emit", "k8s", "-o", str(mine))
    assert refused.exit_code == 1 and "was not written by edge" in refused.stderr
    assert mine.read_text() == "kind: Mine\n"
    assert invoke("serve", AWQ, "--emit", "k8s", "-o", str(mine), "--force").exit_code == 0
    assert "kind: Deployment" in mine.read_text()


def test_emit_without_models_takes_the_routed_ones(host):
    (host.project / "edge.toml").write_text(
        f'[ai]\ncatalogue = ["./models"]\n[ai.routes."{AWQ}"]\nengine = "tgi"\n'
        'urls = ["http://127.0.0.1:8080"]\n')
    result = invoke("serve", "--emit", "k8s", "-o", "-")
    assert result.exit_code == 0
    assert "text-generation-inference" in result.stdout
    empty = host.project / "empty"
    empty.mkdir()
    result = invoke("serve", "--emit", "compose", "--root", str(empty))
    assert result.exit_code == 2 and "route some to vllm, tgi or tei" in result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize(("runtime", "engine", "reply"), [
    ("docker", "vllm", "Hello from the fake vLLM server"),
    ("podman", "tgi", "Hello from the fake TGI server"),
    ("native", "vllm", "Hello from the fake vLLM server"),
])
def test_serve_routes_a_running_edge_dev_to_the_server(host, tmp_path, runtime, engine, reply):
    """edge ai serve -> /health -> edge.toml -> a request through edge dev -> edge ai stop."""
    project = tmp_path / "chat"
    subprocess.run(["cp", "-r", CHAT, str(project)], check=True)
    (project / "edge.toml").write_text('[ai.routes."*"]\nengine = "scripted"\n'
                                       'options = { text = "scripted stand-in" }\n')
    dev = EdgeDev(str(project)).start()
    ask = {"messages": [{"role": "user", "content": "Hi"}]}
    try:
        assert dev.post("/", json=ask).json()["response"] == "scripted stand-in"
        env = {**os.environ, "NO_COLOR": "1"}
        served = subprocess.run(
            [*COMMAND, "ai", "serve", AWQ, "--engine", engine, "--runtime", runtime,
             "--root", str(project), "--port", str(free_port()), "--timeout", "60"],
            capture_output=True, text=True, env=env, timeout=120)
        assert served.returncode == 0, served.stdout + served.stderr
        assert "healthy" in served.stderr
        answer = ""
        for _ in range(50):  # edge dev reloads edge.toml asynchronously: bounded retries
            answer = dev.post("/", json=ask).text
            if reply in answer:
                break
            time.sleep(0.2)
        assert reply in answer, served.stderr + dev.output()[-3000:]
        # --root: native servers are machine-wide, parallel tests may run their own
        stopped = subprocess.run([*COMMAND, "ai", "stop", AWQ, "--root", str(project)],
                                 capture_output=True,
                                 text=True, env=env, timeout=60)
        assert stopped.returncode == 0 and "removed its route" in stopped.stdout, (
            stopped.stdout + stopped.stderr)
        assert AWQ not in routes_in(project)
        assert host.containers() == [] or runtime == "native"
    finally:
        dev.stop()


def test_dry_run_says_when_edge_could_not_route_the_model_yet(host, monkeypatch):
    from bindings.ai import engines

    monkeypatch.delitem(engines.ENGINES, "tgi")
    result = invoke("serve", AWQ, "--engine", "tgi", "--dry-run")
    assert result.exit_code == 0
    assert f"# note: {AWQ}: edge could not route to it yet: edge has no tgi engine" in \
        result.stdout
