"""`edge.toml`: machine-local AI routes, never read by Wrangler, loaded once into typed
settings together with `--ai-route` and `EDGE_AI_ROUTES`."""

from __future__ import annotations

import logging

import pytest

from bindings.ai.routing import DEFAULT_ROUTE, ENV_VAR, RouteError
from emulator.config import ConfigError
from emulator.local_settings import (
    WRITTEN_BY,
    AiSettings,
    LocalSettings,
    load_local_settings,
    remove_route,
    write_route,
)


def write(tmp_path, text):
    (tmp_path / "edge.toml").write_text(text)
    return tmp_path


def test_absent_file_is_empty(tmp_path):
    assert load_local_settings(tmp_path, environ={}) == LocalSettings(tmp_path.resolve())


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
    settings = load_local_settings(tmp_path, environ={}).ai
    routes = {route.model: route for route in settings.file}
    llama = routes["@cf/meta/llama-2-7b-chat-fp16"]
    assert llama.gguf == (tmp_path / "weights" / "llama.gguf").resolve()
    assert (llama.engine, llama.prompt_format) == ("llamacpp", "llama2")
    awq = routes["@hf/thebloke/llama-2-13b-chat-awq"]
    assert awq.urls == ("http://gpu1:8000",)
    assert awq.served_model == "TheBloke/Llama-2-13B-chat-AWQ"
    assert awq.options == {"timeout": 60}
    assert (routes["*"].engine, routes["*"].urls, routes["*"].options) == ("scripted", (), {})
    assert routes["@cf/meta/llama-3-8b-instruct"].urls == ("http://tgi:8080",)
    assert settings.catalogue == ((tmp_path / "models").resolve(),)


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
        load_local_settings(tmp_path)
    assert "'colour'" in caplog.text and "ai.speed" in caplog.text


def test_aliases_url_model_and_template(tmp_path):
    write(
        tmp_path,
        '[ai.routes."m"]\nengine = "vllm"\nurl = "http://gpu:8000"\nmodel = "served"\n'
        '[ai.routes."n"]\nengine = "llamacpp"\ngguf = "w/x.gguf"\ntemplate = "llama2"\n',
    )
    vllm, llama = load_local_settings(tmp_path).ai.file
    assert vllm.urls == ("http://gpu:8000",) and vllm.served_model == "served"
    assert llama.gguf == (tmp_path / "w" / "x.gguf").resolve()
    assert llama.prompt_format == "llama2"


def test_routes_in_precedence_cli_env_file(tmp_path):
    model = "@cf/meta/llama-2-7b-chat-fp16"
    write(tmp_path, f'[ai.routes."{model}"]\nengine = "vllm"\nurls = "http://file:1"\n')
    environ = {ENV_VAR: "@hf/thebloke/llama-2-13b-chat-awq=tgi:http://env:1"}
    settings = load_local_settings(tmp_path, environ=environ).ai
    table = settings.route_table()
    assert table.resolve(model).urls == ("http://file:1",)
    assert table.resolve("@hf/thebloke/llama-2-13b-chat-awq").urls == ("http://env:1",)
    assert table.resolve("@x/y") == DEFAULT_ROUTE
    cli = load_local_settings(tmp_path, ai_routes=["*=scripted:echo"], environ=environ).ai
    assert cli.route_table().resolve(model).engine == "scripted"
    assert load_local_settings(None, environ={}).ai == AiSettings()


def test_a_bad_route_spec_is_a_route_error():
    with pytest.raises(RouteError, match="expected MODEL=ENGINE"):
        load_local_settings(None, ai_routes=["nonsense"])
    with pytest.raises(RouteError, match="expected MODEL=ENGINE"):
        load_local_settings(None, environ={ENV_VAR: "nonsense"})


def test_reloaded_rereads_the_file_and_keeps_flags(tmp_path):
    write(tmp_path, '[ai.routes."*"]\nengine = "scripted"\noptions = { text = "one" }\n')
    settings = load_local_settings(tmp_path, ai_routes=["m=scripted"], environ={})
    write(tmp_path, '[ai.routes."*"]\nengine = "scripted"\noptions = { text = "two" }\n')
    again = settings.reloaded()
    assert [r.options for r in again.ai.file] == [{"text": "two"}]
    assert again.ai.cli == settings.ai.cli
    write(tmp_path, "[ai.routes\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        again.reloaded()
# --- routes written back by `edge ai serve` ----------------------------------------------

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"
ROUTE = {"engine": "vllm", "urls": ["http://127.0.0.1:8000"], "served_model": "T/M"}
def file_routes(root):
    return {r.model: r for r in load_local_settings(root, environ={}).ai.file}


MINE = """# my machine
[ai]
catalogue = ["./models"]  # my entries

[ai.routes."*"]
engine = "scripted"
options = { text = "hi" }  # keep me
"""


def test_write_route_keeps_everything_else_as_written(tmp_path):
    write(tmp_path, MINE)
    assert write_route(tmp_path, MODEL, ROUTE) is None
    text = (tmp_path / "edge.toml").read_text()
    assert text.startswith(MINE)  # comments and layout untouched
    assert WRITTEN_BY in text
    routes = file_routes(tmp_path)
    assert routes[MODEL].urls == ("http://127.0.0.1:8000",) and "*" in routes


def test_writing_again_replaces_the_route_in_place(tmp_path):
    write(tmp_path, MINE)
    write_route(tmp_path, MODEL, ROUTE)
    previous = write_route(tmp_path, MODEL, {**ROUTE, "urls": ["http://127.0.0.1:8001"]})
    assert previous == ROUTE
    text = (tmp_path / "edge.toml").read_text()
    assert text.count(WRITTEN_BY) == 1 and text.count(f'[ai.routes."{MODEL}"]') == 1
    assert file_routes(tmp_path)[MODEL].urls == ("http://127.0.0.1:8001",)


def test_a_route_in_the_middle_is_replaced_where_it_is(tmp_path):
    write(tmp_path, f'[ai.routes."{MODEL}"]\nengine = "tgi"\n\n[ai.routes."*"]\n'
                    'engine = "scripted"\n')
    write_route(tmp_path, MODEL, ROUTE)
    text = (tmp_path / "edge.toml").read_text()
    assert text.index(MODEL) < text.index('[ai.routes."*"]')
    assert file_routes(tmp_path)[MODEL].engine == "vllm"


def test_an_inline_routes_table_is_rewritten_from_its_content(tmp_path):
    write(tmp_path, '[ai]\nroutes = { "*" = { engine = "scripted" } }\n')
    write_route(tmp_path, MODEL, ROUTE)
    assert set(file_routes(tmp_path)) == {"*", MODEL}


def test_a_broken_file_is_left_alone(tmp_path):
    write(tmp_path, "[ai.routes\n")
    with pytest.raises(ConfigError, match="invalid TOML, left unchanged"):
        write_route(tmp_path, MODEL, ROUTE)
    assert (tmp_path / "edge.toml").read_text() == "[ai.routes\n"


def test_remove_route_only_removes_what_still_points_at_the_servers(tmp_path):
    write(tmp_path, MINE)
    write_route(tmp_path, MODEL, ROUTE)
    assert not remove_route(tmp_path, MODEL, urls=["http://127.0.0.1:9999"])
    assert remove_route(tmp_path, MODEL, urls=["http://127.0.0.1:8000"])
    assert (tmp_path / "edge.toml").read_text() == MINE
    assert not remove_route(tmp_path, MODEL)
    assert not remove_route(tmp_path / "nowhere", MODEL)
