from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bindings.ai.routing import (
    DEFAULT_ROUTE,
    ENV_VAR,
    Route,
    RouteError,
    RouteLayer,
    RouteTable,
    describe_route,
    parse_route,
    parse_routes,
    route_from_table,
)

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
FP16 = "@cf/meta/llama-2-7b-chat-fp16"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("*=scripted:echo", Route("*", "scripted", options={"echo": True})),
        ("*=scripted", Route("*", "scripted")),
        (
            f"{AWQ}=vllm:http://gpu1:8000,http://gpu2:8000/",
            Route(AWQ, "vllm", urls=("http://gpu1:8000", "http://gpu2:8000")),
        ),
        (
            f"{FP16}=llamacpp:/models/llama-2-7b-chat.Q4_K_M.gguf",
            Route(FP16, "llamacpp", gguf=Path("/models/llama-2-7b-chat.Q4_K_M.gguf")),
        ),
        (
            f"{AWQ}=tgi:http://h:80,model=TheBloke/Llama-2-13B-chat-AWQ,prompt_format=llama2",
            Route(
                AWQ,
                "tgi",
                urls=("http://h:80",),
                served_model="TheBloke/Llama-2-13B-chat-AWQ",
                prompt_format="llama2",
            ),
        ),
    ],
)
def test_parse_route_fields(spec, expected):
    route = parse_route(spec)
    assert route == expected
    assert route.options == expected.options


def test_parse_route_options_are_converted_as_the_engine_declares():
    route = parse_route("*=scripted:text=42,delay=0.01,fail_after=3,echo=no")
    assert route.options == {"text": "42", "delay": 0.01, "fail_after": 3, "echo": False}
    route = parse_route("*=vllm:http://x:1,timeout=5,max_connections=8,api_key=0123")
    assert route.options == {"timeout": 5.0, "max_connections": 8, "api_key": "0123"}


def test_parse_route_text_keeps_equals_signs_and_escaped_commas():
    route = parse_route(r"*=scripted:text=a=b\, c")
    assert route.options == {"text": "a=b, c"}


def test_parse_route_repeated_keys_collect_into_a_list():
    route = parse_route("*=scripted:reply=one,reply=two,reply=three")
    assert route.options == {"reply": ["one", "two", "three"]}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("scripted", "expected MODEL=ENGINE"),
        ("=scripted", "model part is empty"),
        ("*=", "engine part is empty"),
        ("*=:echo", "engine part is empty"),
        ("*=vllm:url=ftp://x", "not an http"),
        ("*=scripted:=3", "empty key"),
    ],
)
def test_parse_route_errors_quote_the_spec(spec, fragment):
    with pytest.raises(RouteError) as info:
        parse_route(spec)
    assert fragment in str(info.value)
    assert repr(spec) in str(info.value)


def test_parse_routes_splits_on_semicolons_and_accepts_lists():
    routes = parse_routes(["*=scripted:echo; @a/b=tgi:http://x:1", "@c/d=vllm:http://y:2"])
    assert [r.model for r in routes] == ["*", "@a/b", "@c/d"]
    assert parse_routes("") == []
    assert parse_routes(None) == []


def test_layer_prefers_exact_then_longest_glob_then_star():
    layer = RouteLayer(
        "test",
        (
            parse_route("*=scripted:text=star"),
            parse_route("@cf/*=scripted:text=cf"),
            parse_route("@cf/meta/*=scripted:text=meta"),
            parse_route(f"{FP16}=scripted:text=exact"),
        ),
    )
    assert layer.match(FP16).options["text"] == "exact"
    assert layer.match("@cf/meta/other").options["text"] == "meta"
    assert layer.match("@cf/x/y").options["text"] == "cf"
    assert layer.match(AWQ).options["text"] == "star"


def test_later_route_for_the_same_model_wins_within_a_layer():
    layer = RouteLayer("t", (parse_route("*=scripted:text=a"), parse_route("*=scripted:text=b")))
    assert layer.match(AWQ).options["text"] == "b"


def test_precedence_cli_over_env_over_file_over_default():
    file = RouteLayer("edge.toml", (route_from_table(FP16, {"engine": "vllm", "urls": "http://f:1"}),))
    env = RouteLayer(ENV_VAR, tuple(parse_routes(f"{AWQ}=tgi:http://env:1")))
    table = RouteTable([env, file])
    assert table.resolve(FP16).urls == ("http://f:1",)
    assert table.resolve(AWQ).urls == ("http://env:1",)
    assert table.resolve("@cf/other/model") == DEFAULT_ROUTE
    assert table.source_of(table.resolve(AWQ)) == ENV_VAR

    # A CLI '*' wins over the env and file routes: every model goes to the scripted engine.
    cli = RouteTable([RouteLayer("--ai-route", (parse_route("*=scripted:echo"),)), env, file])
    assert {cli.resolve(m).engine for m in (FP16, AWQ, "@x/y")} == {"scripted"}
    assert cli.source_of(cli.resolve(FP16)) == "--ai-route"


def test_default_is_llamacpp_with_the_bundled_model():
    table = RouteTable([RouteLayer("--ai-route", ())])
    route = table.resolve(AWQ)
    assert (route.engine, route.gguf) == ("llamacpp", None)
    assert table.explicit_routes() == []


def test_routes_from_tables_resolve_relative_gguf_against_root(tmp_path):
    table = {"engine": "llamacpp", "gguf": "m/x.gguf", "options": {"n_ctx": 1}}
    route = route_from_table(FP16, table, root=tmp_path)
    assert route.gguf == tmp_path / "m/x.gguf"
    assert route.options == {"n_ctx": 1}


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"urls": ["http://x"]}, "'engine' is required"),
        ({"engine": "vllm", "bogus": 1}, "unknown key(s) bogus"),
        ({"engine": "vllm", "urls": [1]}, "'urls' must be"),
        # edge.toml options are checked like a spec's: typed values, same messages
        ({"engine": "vllm", "options": {"timeout": "soon"}}, "option timeout must be a number"),
        ({"engine": "vllm", "options": {"loras": ["a"]}}, "option loras takes one value (a table"),
        ({"engine": "tgi", "options": {"tiemout": 5}}, "tgi has no option 'tiemout' (tgi acc"),
        ({"engine": "llamacpp", "options": {"n_ctx": True}}, "option n_ctx needs a value"),
        ({"engine": "llamacpp", "options": {"n_ctx": 2.5}}, "option n_ctx must be an integer"),
        ("vllm", "expected a table"),
    ],
)
def test_route_table_errors(table, fragment):
    with pytest.raises(RouteError) as info:
        route_from_table(FP16, table)
    assert fragment in str(info.value)


def test_describe_route_round_trips_through_parse_route():
    spec = f"{AWQ}=vllm:http://a:1,http://b:2,model=m,prompt_format=llama2,timeout=5"
    route = parse_route(spec)
    assert parse_route(describe_route(route)) == route
    assert describe_route(route) == spec


def test_escaped_semicolons_and_commas_survive_parse_routes():
    [first, second] = parse_routes(r"*=scripted:text=a\;b\, c;@x/y=scripted:echo")
    assert first.options == {"text": "a;b, c"}
    assert second.model == "@x/y"


_TEXT = (
    st.text(
        alphabet=st.characters(blacklist_characters="\\", blacklist_categories=("Cs",)), min_size=1
    )
    .map(str.strip)
    .filter(bool)
)


@given(model=st.sampled_from(["*", AWQ, "@cf/*"]), texts=st.lists(_TEXT, min_size=1, max_size=3))
def test_describe_route_round_trips_any_text(model, texts):
    route = Route(model, "scripted", options={"reply": texts})
    assert parse_route(describe_route(route)).options == route.options
    [again] = parse_routes(describe_route(route))
    assert again.options == route.options
