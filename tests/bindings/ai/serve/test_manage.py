"""ps and stop over what edge started, found by labels."""

from __future__ import annotations

from pathlib import Path

from bindings.ai.serve.gpus import Gpu
from bindings.ai.serve.manage import list_served, stop_served
from bindings.ai.serve.plan import ServeOptions, plan_models
from bindings.ai.serve.runtime import get_runtime
from emulator.local_settings import remove_route, write_route
from tests.bindings.ai.serve.test_runtime import wait_healthy
from tests.fakes.loopback import free_port
from tests.support.fake_host import routes_in

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"


def start(catalogue, root: Path, **env):
    runtime = get_runtime("docker")
    (plan,) = plan_models(catalogue, [AWQ], ServeOptions(port=free_port()), root=root,
                          gpus=[Gpu(0, "A100", 81920)], environ={})
    replica = plan.replicas[0]
    runtime.start(replica, runtime.command(replica, {}))
    wait_healthy(replica.url)
    write_route(root, AWQ, plan.route())
    return runtime, replica


def routes_of(root: Path) -> dict:
    return routes_in(root)


def test_ps_reports_health_and_the_route(host, catalogue, tmp_path):
    runtime, replica = start(catalogue, tmp_path)
    try:
        (row,) = list_served(runtime, routes_of=routes_of)
        assert (row.served.name, row.health) == (replica.name, "ok")
        assert row.route == f"{tmp_path.resolve()}/edge.toml"
        write_route(tmp_path, AWQ, {"engine": "vllm", "urls": ["http://gpu2:8000"]})
        (row,) = list_served(runtime, routes_of=routes_of)
        assert row.route == "edge.toml routes it to http://gpu2:8000"
    finally:
        stop_served(runtime, None, remove_route=remove_route)


def test_stop_removes_the_server_and_the_route_it_wrote(host, catalogue, tmp_path):
    (tmp_path / "edge.toml").write_text('[ai.routes."*"]\nengine = "scripted"\n')
    runtime, replica = start(catalogue, tmp_path)
    (stopped,) = stop_served(runtime, AWQ, remove_route=remove_route)
    assert (stopped.names, stopped.route_removed) == ([replica.name], True)
    assert runtime.find() == []
    assert list(routes_of(tmp_path)) == ["*"]  # the user's own route stays


def test_stop_leaves_a_route_the_user_changed(host, catalogue, tmp_path):
    runtime, _ = start(catalogue, tmp_path)
    write_route(tmp_path, AWQ, {"engine": "vllm", "urls": ["http://gpu2:8000"]})
    (stopped,) = stop_served(runtime, None, remove_route=remove_route)
    assert not stopped.route_removed
    assert routes_of(tmp_path)[AWQ]["urls"] == ["http://gpu2:8000"]


def test_a_stopped_server_shows_as_exited_and_down(host, catalogue, tmp_path):
    host.set(FAKE_CONTAINER_EXIT="2")
    runtime = get_runtime("docker")
    (plan,) = plan_models(catalogue, [AWQ], ServeOptions(port=free_port()), root=tmp_path,
                          gpus=[Gpu(0, "A100", 81920)], environ={})
    handle = runtime.start(plan.replicas[0], runtime.command(plan.replicas[0], {}))
    list(runtime.follow(handle))
    (row,) = list_served(runtime, routes_of=routes_of)
    assert (row.served.describe_state(), row.health) == ("exited (2)", "-")
    assert row.route.startswith("not routed in")
    stop_served(runtime, AWQ, remove_route=remove_route)


def test_ps_and_stop_can_keep_to_one_project(host, catalogue, tmp_path):
    one, other = tmp_path / "one", tmp_path / "other"
    one.mkdir(), other.mkdir()
    runtime, replica = start(catalogue, one)
    assert list_served(runtime, root=other) == []
    assert stop_served(runtime, None, root=other, remove_route=remove_route) == []
    assert [r.served.name for r in list_served(runtime, root=one)] == [replica.name]
    (stopped,) = stop_served(runtime, None, root=one, remove_route=remove_route)
    assert stopped.route_removed and runtime.find() == []
