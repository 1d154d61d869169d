import json
import logging

import pytest

from bindings.ai.catalogue import load_catalogue
from bindings.ai.chat_templates import get_format
from bindings.ai.engines.base import GenerationRequest, Health
from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.errors import AiError
from bindings.ai.routing import Route, RouteError, RouteTable, parse_routes
from bindings.ai.service import AiService, grouped
from bindings.ai.streaming import AiStream
from bindings.ai.tasks import get_task
from emulator.local_settings import load_local_settings

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
FP16 = "@cf/meta/llama-2-7b-chat-fp16"
CATALOGUE = load_catalogue()


def service_with(*specs: str, factory=None) -> AiService:
    from bindings.ai.routing import RouteLayer

    table = RouteTable([RouteLayer("--ai-route", tuple(parse_routes(list(specs))))])
    if factory is None:
        return AiService(CATALOGUE, table)
    return AiService(CATALOGUE, table, engine_factory=factory)


@pytest.fixture
def engine():
    return ScriptedEngine(text="Hello there, friend")


@pytest.fixture
def service(engine):
    service = AiService(CATALOGUE, RouteTable(default=None))
    service.set_engine("*", engine)
    return service


async def test_run_returns_response_and_usage(service, engine):
    result = await service.run(FP16, {"prompt": "Hi"})
    assert result == {
        "response": "Hello there, friend",
        "usage": {
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": 3,
            "total_tokens": result.usage.prompt_tokens + 3,
        },
    }
    assert result.response == "Hello there, friend"
    assert result.usage.completion_tokens == 3


async def test_defaults_and_template_reach_the_engine(service, engine):
    messages = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}]
    await service.run(AWQ, {"messages": messages})
    [request] = engine.requests
    assert request.prompt == get_format("llama2").render(messages)
    assert (request.max_tokens, request.stream, request.raw) == (256, False, False)


async def test_sampling_parameters_from_the_schema_reach_the_engine(service, engine):
    await service.run(FP16, {"prompt": "x", "temperature": 0.2, "top_k": 5, "seed": 7})
    request = engine.requests[-1]
    assert (request.temperature, request.top_k, request.seed) == (0.2, 5, 7)


async def test_raw_prompt_goes_verbatim(service, engine):
    await service.run(FP16, {"prompt": "<s>[INST] verbatim [/INST]", "raw": True})
    assert engine.requests[-1].prompt == "<s>[INST] verbatim [/INST]"


@pytest.mark.parametrize(
    "inputs",
    [
        {},
        {"prompt": "x", "messages": [{"role": "user", "content": "y"}]},
        {"prompt": 3},
        {"prompt": ""},
        {"prompt": "x", "max_tokens": "many"},
        {"messages": [{"role": "user"}]},
        {"prompt": "x", "top_k": 51},
    ],
)
async def test_invalid_inputs_raise_5006_and_never_reach_the_engine(service, engine, inputs):
    with pytest.raises(AiError) as info:
        await service.run(FP16, inputs)
    assert info.value.code == 5006 and info.value.status == 400
    assert str(info.value).startswith("5006: Error: ")
    assert engine.requests == []


@pytest.mark.parametrize("inputs", [None, "a prompt", ["x"]])
async def test_non_object_inputs_are_5006(service, inputs):
    with pytest.raises(AiError) as info:
        await service.run(FP16, inputs)
    assert info.value.code == 5006


async def test_unknown_model_is_5007(service, engine):
    with pytest.raises(AiError) as info:
        await service.run("@cf/meta/nope", {"prompt": "x"})
    assert info.value.code == 5007
    assert engine.requests == []


async def test_ignored_keys_are_dropped_and_logged_once_per_model(service, engine, caplog):
    caplog.set_level(logging.INFO, logger="edge.ai")
    for _ in range(3):
        await service.run(FP16, {"prompt": "x", "foo": 1})
    notes = [
        r.getMessage() for r in caplog.records if "not in the model's schema" in r.getMessage()
    ]
    assert notes == [
        f"{FP16}: input key(s) foo are not in the model's schema; not sent to the engine"
    ]
    assert all("foo" not in str(r) for r in engine.requests)


async def test_stream_returns_sse_frames(service):
    stream = await service.run(FP16, {"prompt": "x", "stream": True})
    assert isinstance(stream, AiStream)
    frames = [frame async for frame in stream]
    assert frames[0] == b'data: {"response":"Hello"}\n\n'
    assert json.loads(frames[-2][6:])["usage"]["completion_tokens"] == 3
    assert frames[-1] == b"data: [DONE]\n\n"


async def test_stream_errors_before_the_first_token_raise_from_run():
    class Busy(ScriptedEngine):
        async def generate(self, request):
            raise AiError(3040, "Capacity temporarily exceeded")
            yield  # pragma: no cover

    service = AiService(CATALOGUE, RouteTable(default=None))
    service.set_engine("*", Busy())
    with pytest.raises(AiError) as info:
        await service.run(FP16, {"prompt": "x", "stream": True})
    assert info.value.code == 3040


async def test_engine_exceptions_become_3043():
    class Broken(ScriptedEngine):
        async def generate(self, request):
            raise RuntimeError("segfault-ish")
            yield  # pragma: no cover

    service = AiService(CATALOGUE, RouteTable(default=None))
    service.set_engine("*", Broken())
    with pytest.raises(AiError) as info:
        await service.run(FP16, {"prompt": "x"})
    assert info.value.code == 3043 and "segfault-ish" in str(info.value)


async def test_options_are_accepted_and_noted_once(service, caplog):
    caplog.set_level(logging.INFO, logger="edge.ai")
    options = {"gateway": {"id": "g"}, "prefix": "p", "extraHeaders": {"x": "1"}, "bogus": 1}
    await service.run(FP16, {"prompt": "x"}, options)
    await service.run(FP16, {"prompt": "x"}, options)
    notes = [r.getMessage() for r in caplog.records if "option" in r.getMessage()]
    assert len(notes) == 4
    assert any("'gateway'" in n and "not emulated" in n for n in notes)
    assert any("'bogus'" in n and "not a Workers AI run() option" in n for n in notes)


async def test_non_mapping_options_are_an_error(service):
    with pytest.raises(AiError) as info:
        await service.run(FP16, {"prompt": "x"}, ["gateway"])
    assert "options must be an object" in str(info.value)


async def test_routes_pick_engines_and_share_instances_per_route_key():
    service = service_with(f"{FP16}=scripted:text=seven", "*=scripted:text=other")
    assert (await service.run(FP16, {"prompt": "x"})).response == "seven"
    assert (await service.run(AWQ, {"prompt": "x"})).response == "other"
    assert len(service.engines()) == 2
    await service.run(FP16, {"prompt": "x"})
    assert len(service.engines()) == 2


async def test_route_prompt_format_overrides_the_catalogue(engine):
    service = service_with(f"{FP16}=scripted:echo,prompt_format=chatml")
    await service.run(FP16, {"prompt": "Hi"})
    [scripted] = service.engines()
    assert scripted.requests[0].prompt == get_format("chatml").render(
        [{"role": "user", "content": "Hi"}]
    )


async def test_engines_own_template_wins_over_the_catalogue():
    chatml = get_format("chatml")

    class OwnTemplate(ScriptedEngine):
        def prompt_format(self, model):
            return chatml

    own = OwnTemplate()
    service = AiService(CATALOGUE, RouteTable(default=None))
    service.set_engine("*", own)
    await service.run(AWQ, {"prompt": "Hi"})
    assert own.requests[0].prompt == chatml.render([{"role": "user", "content": "Hi"}])


def test_describe_names_each_models_engine():
    service = service_with("*=scripted:echo")
    text = [e.name for e in CATALOGUE if e.task_name == "Text Generation"]
    served = [str(row) for row in service.describe() if row.task == "Text Generation"]
    assert served == [f"{name} → scripted: echo" for name in text]
    assert f"{AWQ} → scripted: echo" in map(str, service.describe())
    service.set_engine(AWQ, ScriptedEngine(text="hi"))
    banner = grouped(service.describe())
    # every model whose task edge runs is served by the catch-all scripted route
    runnable = [e.name for e in CATALOGUE if get_task(e.task_name) is not None]
    assert banner[0] == f"{len(runnable) - 1} models → scripted: echo"
    assert f"{AWQ} → scripted: fixed text" in banner
    # one line per distinct reason a task is not served, not one per model
    assert len(banner) <= 2 + len({e.task_name for e in CATALOGUE}) * 3


async def test_startup_rejects_routes_to_unknown_models_and_engines():
    with pytest.raises(RouteError, match="did you mean @cf/meta/llama-2-7b-chat-fp16"):
        await service_with("@cf/meta/llama-2-7b-chat-fp61=scripted").startup()
    with pytest.raises(RouteError, match=r"AI route '\*=nope': unknown AI engine 'nope'"):
        service_with("*=nope")  # when the route is parsed

    def failing(route: Route):
        raise ImportError("No module named 'bindings.ai.engines.tgi'")

    with pytest.raises(RouteError, match="could not be created: ImportError"):
        await service_with("*=tgi:http://x:1", factory=failing).startup()


async def test_startup_runs_health_checks_and_describe_shows_failures():
    class Down(ScriptedEngine):
        async def health(self):
            return Health(ok=False, detail="connection refused", url="http://gpu:8000")

    service = service_with("*=scripted", factory=lambda route: Down())
    await service.startup()
    await service.startup()  # idempotent
    assert service.last_health == {
        "*=scripted": [Health(False, "connection refused", "http://gpu:8000")]
    }
    assert str(service.describe()[0]).endswith("(unhealthy: connection refused)")


async def test_health_reports_exceptions_as_unhealthy():
    class Raises(ScriptedEngine):
        async def health(self):
            raise OSError("unreachable")

    service = service_with("*=scripted", factory=lambda route: Raises())
    health = await service.health()
    [[result]] = health.values()
    assert not result.ok and "unreachable" in result.detail


async def test_close_closes_engines(service, engine):
    await service.run(FP16, {"prompt": "x"})
    await service.close()
    assert engine.closed


async def test_models_lists_the_catalogue_in_search_shape(service):
    records = await service.models({"per_page": 1000})
    assert {r["name"] for r in records} == set(CATALOGUE.names()) >= {AWQ, FP16}
    assert len(await service.models()) == 50  # Cloudflare's default page
    assert set(records[0]) >= {"id", "source", "name", "description", "task", "tags", "properties"}
    assert records[CATALOGUE.names().index(AWQ)].task.name == "Text Generation"
    by_thebloke = await service.models({"author": "thebloke"})
    assert AWQ in [r.name for r in by_thebloke] and FP16 not in [r.name for r in by_thebloke]
    assert len(await service.models({"per_page": 1, "page": 2})) == 1
    with pytest.raises(AiError):
        await service.models({"page": 0})


def test_from_settings_reads_routes_from_cli_env_and_local(tmp_path):
    (tmp_path / "edge.toml").write_text(
        f'[ai.routes."{FP16}"]\nengine = "vllm"\nurls = ["http://f:1"]\n'
    )
    settings = load_local_settings(tmp_path, ai_routes=["*=scripted:text=cli"], environ={})
    service = AiService.from_settings(settings.ai)
    assert service.route_for(FP16).options == {"text": "cli"}
    service = AiService.from_settings(load_local_settings(tmp_path, environ={}).ai)
    assert service.route_for(FP16).engine == "vllm"
    assert service.route_for(AWQ).engine == "llamacpp"


async def test_an_engine_without_usage_still_yields_usage():
    class NoUsage(ScriptedEngine):
        async def generate(self, request: GenerationRequest):
            yield "a"
            yield " b"

    service = AiService(CATALOGUE, RouteTable(default=None))
    service.set_engine("*", NoUsage())
    result = await service.run(FP16, {"prompt": "x"})
    assert result.response == "a b"
    assert result.usage.completion_tokens == 2


def _deep(depth: int) -> dict:
    value: dict = {"role": "user", "content": "x"}
    for _ in range(depth):
        value = {"content": value}
    return value


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({"prompt": "x", "temperature": float("nan")}, "'nan' is not a JSON number"),
        ({"prompt": "x", "top_p": float("inf")}, "'inf' is not a JSON number"),
        ({"prompt": "bad \ud800 text"}, "lone surrogate"),
        ({"messages": [_deep(5000)]}, "deeper than 64 levels"),
    ],
)
async def test_values_json_cannot_carry_are_5006_before_the_engine(
    service, engine, inputs, fragment
):
    # NaN passes min/max checks and reached llama.cpp; a surrogate was a 500; deep
    # nesting a raw RecursionError from the validator.
    with pytest.raises(AiError) as info:
        await service.run(FP16, inputs)
    assert info.value.code == 5006 and fragment in str(info.value)
    assert engine.requests == []
