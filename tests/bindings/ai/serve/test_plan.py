"""Planning: server choice, GPUs per replica, ports, secrets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bindings.ai.serve.gpus import Gpu
from bindings.ai.serve.plan import ServeOptions, plan_models, port_free
from bindings.ai.serve.spec import ServeError

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
TWO = [Gpu(0, "A100", 81920, "8.0"), Gpu(1, "A100", 81920, "8.0")]
ROOT = Path("/project")


def plan(catalogue, models=(AWQ,), gpus=TWO, taken=(), environ=None, **options):
    return plan_models(catalogue, list(models), ServeOptions(**options), root=ROOT, gpus=gpus,
                       is_free=lambda host, port: port not in taken,
                       environ=environ if environ is not None else {"HF_TOKEN": "x"})


def test_one_replica_on_the_first_gpu_at_the_servers_port(catalogue):
    (model,) = plan(catalogue)
    (replica,) = model.replicas
    assert (replica.port, [g.index for g in replica.gpus]) == (8000, [0])
    assert replica.name.startswith("edge-ai-hf-thebloke-llama-2-13b-chat-awq-vllm-0-")
    assert replica.name != replace(replica, root="/elsewhere").name
    assert model.route() == {"engine": "vllm", "urls": ["http://127.0.0.1:8000"],
                             "served_model": "TheBloke/Llama-2-13B-chat-AWQ"}
    assert replica.labels()["dev.edge.model"] == AWQ
    assert replica.labels()["dev.edge.root"] == str(ROOT.resolve())


def test_replicas_get_their_own_gpus_and_ports_and_the_route_lists_them(catalogue):
    (model,) = plan(catalogue, replicas=2, server="tgi")
    assert [(r.port, r.gpus[0].index) for r in model.replicas] == [(8080, 0), (8081, 1)]
    assert model.route()["urls"] == ["http://127.0.0.1:8080", "http://127.0.0.1:8081"]


def test_the_next_free_port_when_the_default_is_taken(catalogue):
    (model,) = plan(catalogue, taken={8000, 8001})
    assert model.replicas[0].port == 8002


def test_an_explicit_port_that_is_taken_is_an_error(catalogue):
    with pytest.raises(ServeError, match=r"port 9000 is taken on 127\.0\.0\.1"):
        plan(catalogue, port=9000, taken={9000})


def test_port_free_sees_a_listening_socket():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_free("127.0.0.1", sock.getsockname()[1])


def test_tensor_parallel_times_replicas_must_fit(catalogue):
    with pytest.raises(ServeError, match=r"needs 4 GPU\(s\) \(2 x 2\)"):
        plan(catalogue, replicas=2, tensor_parallel=2)


def test_gpus_held_by_edges_servers_are_skipped_unless_asked_for(catalogue):
    plan_models(catalogue, [AWQ], ServeOptions(), root=ROOT, gpus=TWO, busy_gpus={0},
                is_free=lambda h, p: True, environ={})
    (model,) = plan_models(catalogue, [AWQ], ServeOptions(), root=ROOT, gpus=TWO,
                           busy_gpus={0}, is_free=lambda h, p: True, environ={})
    assert model.replicas[0].gpus[0].index == 1
    (model,) = plan_models(catalogue, [AWQ], ServeOptions(gpus="device=0"), root=ROOT, gpus=TWO,
                           busy_gpus={0}, is_free=lambda h, p: True, environ={})
    assert model.replicas[0].gpus[0].index == 0
    with pytest.raises(ServeError, match="every visible GPU is held by a server edge started"):
        plan_models(catalogue, [AWQ], ServeOptions(), root=ROOT, gpus=TWO, busy_gpus={0, 1},
                    is_free=lambda h, p: True, environ={})


def test_two_models_do_not_share_gpus_or_ports(catalogue):
    plans = plan(catalogue, models=[AWQ, "@cf/meta/llama-2-7b-chat-fp16"])
    replicas = [r for p in plans for r in p.replicas]
    assert [(r.port, r.gpus[0].index) for r in replicas] == [(8000, 0), (8001, 1)]


def test_a_model_bigger_than_its_gpus(catalogue):
    small = [Gpu(0, "NVIDIA L4", 23034, "8.9")]
    with pytest.raises(ServeError, match=r"needs about 156\.5 GiB"):
        plan(catalogue, models=["@cf/test/llama-2-70b-fp16"], gpus=small)
    with pytest.raises(ServeError, match=r"needs about 156\.5 GiB"):
        plan(catalogue, models=["@cf/test/llama-2-70b-fp16"], gpus=TWO[:1])
    (model,) = plan(catalogue, models=["@cf/test/llama-2-70b-fp16"], tensor_parallel=2)
    assert "--tensor-parallel-size" in model.replicas[0].args


def test_the_token_goes_by_name(catalogue):
    (model,) = plan(catalogue, environ={"HF_TOKEN": "hf_x"})
    assert model.secrets == {"HF_TOKEN": "HF_TOKEN"}
    (model,) = plan(catalogue, environ={"MINE": "hf_x"}, hf_token_env="MINE")
    assert model.secrets == {"HF_TOKEN": "MINE"}
    (model,) = plan(catalogue, environ={})
    assert model.secrets == {} and "no Hugging Face token" in model.notes[0]
    with pytest.raises(ServeError, match="--hf-token-env MINE: MINE is not set"):
        plan(catalogue, environ={}, hf_token_env="MINE")


def test_an_api_key_is_the_servers_variable_and_the_routes_option(catalogue):
    (model,) = plan(catalogue, environ={"KEY": "k"}, api_key_env="KEY")
    assert model.secrets["VLLM_API_KEY"] == "KEY"
    assert model.route()["options"] == {"api_key_env": "KEY"}
    (model,) = plan(catalogue, environ={"KEY": "k"}, api_key_env="KEY", server="tgi")
    assert model.secrets["API_KEY"] == "KEY"


def test_without_gpu_information_gpus_are_taken_as_written(catalogue):
    (model,) = plan(catalogue, gpus=None)
    assert model.replicas[0].gpus == ()  # docker --gpus all
    (model,) = plan(catalogue, gpus=None, replicas=2)
    assert [r.gpus[0].index for r in model.replicas] == [0, 1]
    (model,) = plan_models(catalogue, [AWQ], ServeOptions(gpus="device=3"), root=ROOT,
                           gpus=None, environ={})
    assert [g.index for g in model.replicas[0].gpus] == [3]


def test_an_emitted_plan_names_the_token_even_when_unset_here(catalogue):
    (model,) = plan_models(catalogue, [AWQ], ServeOptions(), root=ROOT, gpus=None,
                           environ={}, emit=True, is_free=lambda h, p: True)
    assert model.secrets == {"HF_TOKEN": "HF_TOKEN"} and model.notes == []
