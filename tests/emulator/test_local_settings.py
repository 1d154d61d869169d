"""`edge.toml`: machine-local AI routes, never read by Wrangler."""

from __future__ import annotations

import logging

import pytest

from emulator.config import ConfigError
from emulator.local_settings import load_local_settings


def write(tmp_path, text):
    (tmp_path / "edge.toml").write_text(text)
    return tmp_path


def test_absent_file_is_empty(tmp_path):
    assert load_local_settings(tmp_path) == {}


def test_routes_are_normalised(tmp_path):
    write(
        tmp_path,
        """
[ai]
catalogue = "models"

[ai.routes."@cf/meta/llama-2-7b-chat-fp16"]
engine = "llamacpp"
gguf = "weights/llama.gguf"
prompt_format = "llama2"

[ai.routes."@hf/thebloke/llama-2-13b-chat-awq"]
engine = "vllm"
urls = "http://gpu1:8000"
served_model = "TheBloke/Llama-2-13B-chat-AWQ"
options = { timeout = 60 }

[ai.routes."@cf/meta/llama-3-8b-instruct"]
engine = "tgi"
url = "http://tgi:8080"

[ai.routes."*"]
engine = "scripted"
""",
    )
    settings = load_local_settings(tmp_path)
    routes = settings["ai"]["routes"]
    llama = routes["@cf/meta/llama-2-7b-chat-fp16"]
    assert llama["gguf"] == str((tmp_path / "weights" / "llama.gguf").resolve())
    assert llama["prompt_format"] == "llama2"
    awq = routes["@hf/thebloke/llama-2-13b-chat-awq"]
    assert awq["urls"] == ["http://gpu1:8000"]
    assert awq["options"] == {"timeout": 60}
    assert routes["*"] == {"engine": "scripted"}
    assert routes["@cf/meta/llama-3-8b-instruct"]["urls"] == ["http://tgi:8080"]
    assert settings["ai"]["catalogue"] == [str((tmp_path / "models").resolve())]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[ai\n", "invalid TOML"),
        ("ai = 3\n", "ai: expected a table"),
        ('[ai.routes."m"]\nurls = ["http://x"]\n', 'ai.routes."m".engine: required'),
        ('[ai.routes."m"]\nengine = 1\n', 'ai.routes."m".engine: expected a string'),
        ('[ai.routes."m"]\nengine = "vllm"\nendpoint = "http://x"\n', "unknown field"),
        ('[ai.routes."m"]\nengine = "vllm"\nurl = "gpu1"\n', "urls: expected an http"),
        ('[ai.routes."m"]\nengine = "vllm"\nurls = ["gpu1:8000"]\n', "urls[0]: expected an http"),
        ('[ai.routes."m"]\nengine = "vllm"\nurls = "gpu1"\n', "urls: expected an http"),
        ('[ai.routes."m"]\nengine = "x"\noptions = 3\n', "options: expected a table"),
        ("[ai]\nroutes = 3\n", "ai.routes: expected tables"),
        ("[ai]\ncatalogue = [1]\n", "ai.catalogue: expected"),
    ],
)
def test_malformed_file_is_a_config_error(tmp_path, text, expected):
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_local_settings(tmp_path)
    assert "edge.toml" in str(info.value)
    assert expected in str(info.value)


def test_unknown_keys_warn(tmp_path, caplog):
    write(tmp_path, 'colour = "blue"\n[ai]\nspeed = 3\n')
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        assert load_local_settings(tmp_path)["colour"] == "blue"
    assert "'colour'" in caplog.text and "ai.speed" in caplog.text


def test_normalised_routes_are_what_the_ai_router_accepts(tmp_path):
    from bindings.ai.routing import route_from_table

    write(
        tmp_path,
        '[ai.routes."m"]\nengine = "vllm"\nurl = "http://gpu:8000"\nmodel = "served"\n'
        '[ai.routes."n"]\nengine = "llamacpp"\ngguf = "w/x.gguf"\ntemplate = "llama2"\n',
    )
    routes = load_local_settings(tmp_path)["ai"]["routes"]
    vllm = route_from_table("m", routes["m"], root=tmp_path)
    assert vllm.urls == ("http://gpu:8000",) and vllm.served_model == "served"
    llama = route_from_table("n", routes["n"], root=tmp_path)
    assert llama.gguf == (tmp_path / "w" / "x.gguf").resolve()
    assert llama.prompt_format == "llama2"
