"""GPU probing with a fake nvidia-smi; selection, assignment and the memory check."""

from __future__ import annotations

import pytest

from bindings.ai.serve import gpus
from bindings.ai.serve.spec import ServeError
from tests.support.fake_host import A100, L4


def test_probe_reads_every_gpu_with_memory_and_architecture(host):
    host.set(FAKE_GPUS=f"{A100};{L4}")
    found = gpus.probe()
    assert [(g.index, g.name, g.memory_mib, g.compute_cap) for g in found] == [
        (0, "NVIDIA A100-SXM4-80GB", 81920, "8.0"), (1, "NVIDIA L4", 23034, "8.9")]
    assert found[0].memory_gib == 80


def test_an_old_driver_without_compute_cap_still_answers(host):
    host.set(FAKE_NVIDIA_OLD_DRIVER="1")
    assert [g.compute_cap for g in gpus.probe()] == [None, None]
    queries = [c["argv"][0] for c in host.calls("nvidia-smi")]
    assert queries == ["--query-gpu=index,name,memory.total,compute_cap",
                       "--query-gpu=index,name,memory.total"]


def test_no_nvidia_smi_means_no_gpu(host):
    host.remove("nvidia-smi")
    with pytest.raises(ServeError, match="no GPU visible: nvidia-smi is not installed"):
        gpus.probe()


def test_a_driver_that_sees_no_gpu(host):
    host.set(FAKE_GPUS="")
    with pytest.raises(ServeError, match="no GPU visible: `nvidia-smi -L` says 'No devices"):
        gpus.probe()


GPUS = [gpus.Gpu(0, "A", 81920), gpus.Gpu(1, "B", 81920), gpus.Gpu(2, "C", 23034)]


@pytest.mark.parametrize(("wanted", "indexes"), [
    ("all", [0, 1, 2]), ("2", [0, 1]), ("1,2", [1, 2]), ("device=2", [2]),
    ('"device=0,2"', [0, 2]),
])
def test_select_takes_dockers_forms(wanted, indexes):
    assert [g.index for g in gpus.select(GPUS, wanted)] == indexes


@pytest.mark.parametrize(("wanted", "message"), [
    ("3,0", "GPU 3 is not visible (nvidia-smi lists 0, 1, 2)"),
    ("4", "3 GPU(s) visible"),
    ("gpu0", "expected all, a count, or GPU indexes"),
    ("0", "a bare number is a count of GPUs, as for docker; GPU 0 alone is --gpus device=0"),
])
def test_select_refuses_what_is_not_there(wanted, message):
    with pytest.raises(ServeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gpus.select(GPUS, wanted)


def test_assign_gives_each_replica_its_own_gpus():
    assert [[g.index for g in group] for group in gpus.assign(GPUS, 1, 2, "m")] == [[0, 1]]
    assert [[g.index for g in group] for group in gpus.assign(GPUS, 3, 1, "m")] == [
        [0], [1], [2]]
    with pytest.raises(ServeError, match=r"m needs 4 GPU\(s\) \(2 x 2\), but only 3"):
        gpus.assign(GPUS, 2, 2, "m")


def test_memory_above_what_the_gpus_hold():
    gpus.check_memory("m", 70, GPUS[:1])  # fits in 80 GiB
    with pytest.raises(ServeError) as info:
        gpus.check_memory("@cf/test/llama-2-70b-fp16", 156.5, GPUS[:1])
    message = str(info.value)
    assert "needs about 156.5 GiB of GPU memory, more than the 80 GiB" in message
    assert "--tensor-parallel" in message
    gpus.check_memory("m", 156.5, GPUS[:2])  # two 80 GiB cards together
