"""serve_models against the fake GPU host: start, follow, health, route; and failures."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from bindings.ai.serve.launch import serve_models
from bindings.ai.serve.plan import ServeOptions
from bindings.ai.serve.progress import Display
from bindings.ai.serve.runtime import get_runtime
from bindings.ai.serve.spec import ServeError
from emulator.local_settings import write_route
from tests.fakes.loopback import free_port
from tests.support.fake_host import routes_in

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"


def serve(catalogue, root: Path, models=(AWQ,), runtime="docker", timeout=30.0, **options):
    out = io.StringIO()
    display = Display(Console(file=out, force_terminal=False, width=200))
    options.setdefault("port", free_port())
    with display:
        outcome = serve_models(catalogue, list(models), ServeOptions(**options),
                               get_runtime(runtime), display, root=root, timeout=timeout,
                               write_route=write_route)
    return outcome, out.getvalue()


def stop_all(runtime="docker", root: Path | None = None):
    """Stop this test's servers (native ones are machine-wide: only those for `root`)."""
    rt = get_runtime(runtime)
    for served in rt.find():
        if root is None or served.label("root") == str(root.resolve()):
            rt.remove(served)


def test_a_model_served_is_healthy_routed_and_labelled(host, catalogue, tmp_path):
    host.set(HF_TOKEN="hf_test_token")
    outcome, shown = serve(catalogue, tmp_path)
    try:
        (url,) = outcome.routes[AWQ]["urls"]
        assert httpx.get(url + "/health").status_code == 200
        routes = routes_in(tmp_path)
        assert routes[AWQ] == {"engine": "vllm", "urls": [url],
                               "served_model": "TheBloke/Llama-2-13B-chat-AWQ"}
        for phase in ("downloading 45%", "loading 100%", "warming up", "ready", "healthy"):
            assert f": {phase}" in shown
        (run,) = host.runs()
        assert run["env"]["HF_TOKEN"] == "hf_test_token"  # docker got it from its environment
        assert "hf_test_token" not in " ".join(run["argv"]) + shown
        assert outcome.errors == []
    finally:
        stop_all()


def test_a_server_that_exits_fails_with_its_last_log_lines(host, catalogue, tmp_path):
    host.set(FAKE_CONTAINER_EXIT="1")
    outcome, _ = serve(catalogue, tmp_path)
    try:
        (error,) = outcome.errors
        assert "edge-ai-hf-thebloke-llama-2-13b-chat-awq-vllm-0-" in error
        assert "stopped before it was ready: exited (1)" in error
        assert "error: torch.OutOfMemoryError: CUDA out of memory" in error
        assert "its last log lines:" in error and "Traceback" in error
        assert outcome.routes == {} and not (tmp_path / "edge.toml").exists()
    finally:
        stop_all()


def test_a_server_that_never_gets_healthy_times_out_and_keeps_running(host, catalogue,
                                                                      tmp_path):
    host.set(FAKE_CONTAINER_NEVER_READY="1")
    outcome, _ = serve(catalogue, tmp_path, timeout=1.5)
    try:
        (error,) = outcome.errors
        assert "was not healthy at http://127.0.0.1:" in error and "after 1.5 s" in error
        assert "docker logs -f edge-ai-" in error and "It keeps running" in error
        assert [s.state for s in get_runtime("docker").find(AWQ)] == ["running"]
    finally:
        stop_all()


def test_serving_again_waits_for_what_runs_instead_of_starting_twice(host, catalogue,
                                                                     tmp_path):
    first, _ = serve(catalogue, tmp_path)
    try:
        (tmp_path / "edge.toml").unlink()
        again, shown = serve(catalogue, tmp_path)
        assert len(host.runs()) == 1
        assert "already running" in shown
        assert again.routes[AWQ]["urls"] == first.routes[AWQ]["urls"]
        assert AWQ in routes_in(tmp_path)
    finally:
        stop_all()


def test_an_exited_leftover_is_replaced(host, catalogue, tmp_path):
    host.set(FAKE_CONTAINER_EXIT="1")
    serve(catalogue, tmp_path)
    host.set(FAKE_CONTAINER_EXIT="")
    outcome, _ = serve(catalogue, tmp_path)
    try:
        assert outcome.errors == [] and AWQ in outcome.routes
        assert [s.state for s in get_runtime("docker").find(AWQ)] == ["running"]
    finally:
        stop_all()


def test_replicas_and_a_replaced_route(host, catalogue, tmp_path):
    write_route(tmp_path, AWQ, {"engine": "vllm", "urls": ["http://gpu9:8000"]})
    outcome, _ = serve(catalogue, tmp_path, replicas=2, server="tgi")
    try:
        urls = outcome.routes[AWQ]["urls"]
        assert len(urls) == 2 and all(httpx.get(u + "/health").status_code == 200 for u in urls)
        assert outcome.replaced[AWQ]["urls"] == ["http://gpu9:8000"]
        gpus = sorted(s.gpu_indexes[0] for s in get_runtime("docker").find(AWQ))
        assert gpus == [0, 1]
    finally:
        stop_all()


def test_no_gpu_stops_before_anything_starts(host, catalogue, tmp_path):
    host.set(FAKE_GPUS="")
    with pytest.raises(ServeError, match="no GPU visible"):
        serve(catalogue, tmp_path)
    assert host.runs() == []


def test_native_runtime_serves_and_routes(host, catalogue, tmp_path):
    fp16 = "@cf/meta/llama-2-7b-chat-fp16"
    outcome, _ = serve(catalogue, tmp_path, runtime="native", native=True, models=(fp16,))
    try:
        (url,) = outcome.routes[fp16]["urls"]
        assert outcome.routes[fp16]["engine"] == "vllm"
        models = httpx.get(url + "/v1/models").json()["data"]
        assert models[0]["id"] == "meta-llama/Llama-2-7b-chat-hf"
    finally:
        stop_all("native", tmp_path)


def test_a_server_edge_could_not_route_to_is_not_started(host, catalogue, tmp_path,
                                                         monkeypatch):
    from bindings.ai import engines

    monkeypatch.delitem(engines.ENGINES, "tgi")
    with pytest.raises(ServeError, match="edge could not route requests to a tgi server: "
                                         "edge has no tgi engine yet"):
        serve(catalogue, tmp_path, server="tgi")
    assert host.runs() == []


def test_another_projects_server_for_the_same_model_is_left_alone(host, catalogue, tmp_path):
    one, other = tmp_path / "one", tmp_path / "other"
    one.mkdir(), other.mkdir()
    first, _ = serve(catalogue, one)
    try:
        second, shown = serve(catalogue, other)
        assert "already running" not in shown and len(host.runs()) == 2
        assert second.routes[AWQ]["urls"] != first.routes[AWQ]["urls"]
        # and on another GPU: the first project's holds GPU 0
        gpus = sorted(s.gpu_indexes[0] for s in get_runtime("docker").find(AWQ))
        assert gpus == [0, 1]
    finally:
        stop_all()


async def test_tei_serve_health_route_and_env_ai_run_embeddings(host, catalogue, tmp_path):
    """`edge ai serve MODEL --engine tei` -> the fake TEI container -> the route it writes
    -> the tei engine -> `env.AI.run` embeddings."""
    from bindings.ai.service import AiService
    from emulator.local_settings import load_local_settings

    bge = "@cf/baai/bge-small-en-v1.5"
    outcome, shown = serve(catalogue, tmp_path, models=(bge,), server="tei")
    try:
        assert outcome.routes[bge]["engine"] == "tei" and ": healthy" in shown
        settings = load_local_settings(tmp_path, environ={})
        service = AiService(catalogue, settings.ai.route_table())
        try:
            assert (await service.health())[f"{bge}={service.route_for(bge).engine}:"
                                             f"{outcome.routes[bge]['urls'][0]},model="
                                             "BAAI/bge-small-en-v1.5"][0].ok
            result = await service.run(bge, {"text": ["the cat sat", "the cat sat down"]})
            assert result["shape"] == [2, 768]  # the fake TEI's own vectors, not fitted
            row = next(r for r in service.describe() if r.model == bge)
            assert str(row.label).startswith("tei http://127.0.0.1:")
            assert "stand-in" not in str(row.label)
        finally:
            await service.close()
    finally:
        stop_all()
