"""Docker, Podman and native runtimes against the fake CLIs: commands, lifecycle, labels."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from bindings.ai.serve.gpus import Gpu
from bindings.ai.serve.plan import ServeOptions, plan_models
from bindings.ai.serve.runtime import ContainerRuntime, NativeRuntime, get_runtime
from bindings.ai.serve.spec import ServeError
from tests.fakes.loopback import free_port

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
GPUS = [Gpu(0, "A100", 81920, "8.0"), Gpu(1, "A100", 81920, "8.0")]


def one(catalogue, model=AWQ, native=False, **options):
    port = free_port()
    (plan,) = plan_models(catalogue, [model], ServeOptions(native=native, port=port, **options),
                          root=Path("/project"), gpus=GPUS, environ={"HF_TOKEN": "hf_secret"})
    return plan, plan.replicas[0]


def test_docker_run_as_the_vllm_docker_guide_has_it(host, catalogue):
    plan, replica = one(catalogue)
    argv = list(ContainerRuntime("docker").command(replica, plan.secrets).argv)
    assert argv[:5] == ["docker", "run", "-d", "--name", replica.name]
    assert argv[argv.index("--gpus") + 1] == '"device=0"'
    assert "--ipc=host" in argv
    assert argv[argv.index("-p") + 1] == f"127.0.0.1:{replica.port}:8000"
    home = os.environ["HF_HOME"]
    assert argv[argv.index("-v") + 1] == f"{home}:/root/.cache/huggingface"
    assert argv[argv.index("-e") + 1] == "HF_TOKEN"  # by name: docker reads the value
    assert "hf_secret" not in " ".join(argv)
    assert f"dev.edge.model={AWQ}" in argv
    image = argv.index(replica.image)
    assert argv[image + 1:] == list(replica.args)


def test_tgi_gets_shared_memory_and_its_data_volume(host, catalogue):
    plan, replica = one(catalogue, server="tgi", tensor_parallel=2)
    argv = list(ContainerRuntime("docker").command(replica, plan.secrets).argv)
    assert argv[argv.index("--shm-size") + 1] == "1g" and "--ipc=host" not in argv
    assert argv[argv.index("--gpus") + 1] == '"device=0,1"'
    assert argv[argv.index("-v") + 1] == f"{os.environ['HF_HOME']}/hub:/data"
    assert argv[argv.index("-p") + 1].endswith(":80")


def test_podman_uses_cdi_devices(host, catalogue):
    plan, replica = one(catalogue, tensor_parallel=2)
    argv = list(ContainerRuntime("podman").command(replica, plan.secrets).argv)
    assert argv[0] == "podman" and "--gpus" not in argv
    assert "--device=nvidia.com/gpu=0" in argv and "--device=nvidia.com/gpu=1" in argv
    assert "--security-opt=label=disable" in argv


def test_native_runs_the_servers_own_command_on_the_chosen_gpus(catalogue):
    plan, replica = one(catalogue, native=True, replicas=1, gpus="device=1")
    command = NativeRuntime().command(replica, plan.secrets)
    assert command.argv[:3] == ("vllm", "serve", "TheBloke/Llama-2-13B-chat-AWQ")
    assert command.env == {"CUDA_VISIBLE_DEVICES": "1"}
    assert command.shell().startswith("CUDA_VISIBLE_DEVICES=1 vllm serve ")


def test_no_docker(host):
    host.remove("docker")
    with pytest.raises(ServeError, match="docker is not installed"):
        get_runtime("docker").preflight()


def test_a_docker_daemon_that_does_not_answer(host):
    host.set(FAKE_DOCKER_DOWN="1")
    with pytest.raises(ServeError, match="cannot talk to the Docker daemon: Cannot connect"):
        get_runtime("docker").preflight()


def test_docker_without_the_nvidia_runtime_is_a_warning(host):
    assert get_runtime("docker").preflight() == []
    host.set(FAKE_DOCKER_NO_NVIDIA="1")
    (warning,) = get_runtime("docker").preflight()
    assert "no nvidia runtime (runtimes: io.containerd.runc.v2, runc)" in warning
    assert "nvidia-ctk runtime configure" in warning


def test_a_pull_that_fails_says_why(host):
    host.set(FAKE_DOCKER_PULL_FAIL="1")
    with pytest.raises(ServeError) as info:
        get_runtime("docker").ensure_image("docker.io/vllm/vllm-openai:v0.0.0", lambda _: None)
    assert "could not pull docker.io/vllm/vllm-openai:v0.0.0: Error response from daemon: " \
           "manifest for docker.io/vllm/vllm-openai:v0.0.0 not found" in str(info.value)


def test_pull_only_when_missing(host):
    lines = []
    runtime = get_runtime("docker")
    runtime.ensure_image("ghcr.io/x/y:1", lines.append)
    runtime.ensure_image("ghcr.io/x/y:1", lines.append)
    assert [c["argv"][0] for c in host.calls("docker")].count("pull") == 1
    assert lines[-1] == "Status: Downloaded newer image for ghcr.io/x/y:1"


def wait_healthy(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never became healthy")


@pytest.mark.parametrize("cli", ["docker", "podman"])
def test_start_find_follow_remove(host, catalogue, cli):
    runtime = get_runtime(cli)
    plan, replica = one(catalogue)
    handle = runtime.start(replica, runtime.command(replica, plan.secrets))
    wait_healthy(replica.url)
    (served,) = runtime.find(AWQ)
    assert (served.handle, served.name, served.state) == (handle[:12], replica.name, "running")
    assert served.labels == replica.labels() and served.gpu_indexes == [0]
    assert runtime.find("@cf/other/model") == []
    assert any("Starting vLLM API server" in line for line in runtime.tail(handle))
    runtime.remove(served)
    assert runtime.find(AWQ) == []


@pytest.mark.parametrize("cli", ["docker", "native"])
def test_follow_reads_the_log_until_the_server_exits(host, catalogue, cli):
    host.set(FAKE_CONTAINER_EXIT="3")
    runtime = get_runtime(cli)
    plan, replica = one(catalogue, native=cli == "native")
    handle = runtime.start(replica, runtime.command(replica, plan.secrets))
    lines = list(runtime.follow(handle))  # returns: the server exited
    assert lines[0].endswith("vLLM API server version 0.34.0")
    assert lines[-1].startswith("torch.OutOfMemoryError: CUDA out of memory")
    if cli == "docker":
        (served,) = runtime.find(AWQ)
        assert (served.state, served.exit_code, served.describe_state()) == (
            "exited", 3, "exited (3)")
        runtime.remove(served)


def test_the_token_reaches_the_container_by_environment_only(host, catalogue):
    runtime = get_runtime("docker")
    host.set(MY_TOKEN="hf_from_elsewhere")
    (plan,) = plan_models(catalogue, [AWQ], ServeOptions(hf_token_env="MY_TOKEN", port=free_port()),
                          root=Path("/p"), gpus=GPUS)
    replica = plan.replicas[0]
    runtime.start(replica, runtime.command(replica, plan.secrets))
    (run,) = host.runs()
    assert run["env"]["HF_TOKEN"] == "hf_from_elsewhere"
    assert "hf_from_elsewhere" not in " ".join(run["argv"])
    runtime.remove(runtime.find(AWQ)[0])


def test_native_start_find_follow_remove(host, catalogue):
    runtime = get_runtime("native")
    plan, replica = one(catalogue, native=True)
    handle = runtime.start(replica, runtime.command(replica, plan.secrets))
    wait_healthy(replica.url)
    # native servers are machine-wide (other tests' may run in parallel): ours by handle
    (served,) = [s for s in runtime.find(AWQ) if s.handle == handle]
    assert (served.state, served.url) == ("running", replica.url)
    assert served.labels["dev.edge.server"] == "vllm"
    runtime.remove(served)
    assert all(s.handle != handle for s in runtime.find(AWQ))
    assert any("Starting vLLM API server" in line for line in runtime.follow(handle))


def test_native_without_the_server_installed(host, catalogue):
    host.remove("vllm")
    runtime = get_runtime("native")
    plan, replica = one(catalogue, native=True)
    with pytest.raises(ServeError, match=r"vllm is not installed .* use --runtime docker"):
        runtime.start(replica, runtime.command(replica, plan.secrets))
