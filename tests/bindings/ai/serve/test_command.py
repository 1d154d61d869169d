"""Commands print exactly, and carry secrets by name only."""

from __future__ import annotations

from bindings.ai.serve.command import Command


def test_a_secret_under_another_name_is_set_by_reference():
    command = Command(("docker", "run", "-e", "HF_TOKEN", "img"), env_from={"HF_TOKEN": "MINE"})
    assert command.shell() == 'HF_TOKEN="$MINE" docker run -e HF_TOKEN img'
    environ = command.environ({"MINE": "hf_secret", "PATH": "/bin"})
    assert environ["HF_TOKEN"] == "hf_secret"


def test_a_secret_under_its_own_name_needs_no_prefix_and_plain_settings_are_quoted():
    command = Command(("vllm", "serve", "org/model name"), env_from={"HF_TOKEN": "HF_TOKEN"},
                      env={"CUDA_VISIBLE_DEVICES": "0,1"})
    assert command.shell() == "CUDA_VISIBLE_DEVICES=0,1 vllm serve 'org/model name'"
    assert "HF_TOKEN" not in command.environ({})  # not set here: not invented
