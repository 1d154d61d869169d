import json

import pytest

from bindings.ai.binding import KIND, Ai, build
from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.errors import AiError
from bindings.ai.streaming import AiStream
from bindings.ai.tasks import get_task
from bindings.registry import BindingHost
from emulator.config import BindingSpec
from emulator.local_settings import load_local_settings
from emulator.sdk import Response

FP16 = "@cf/meta/llama-2-7b-chat-fp16"
AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
SPEC = BindingSpec(kind="ai", name="AI", options={"binding": "AI"})


@pytest.fixture
def host(tmp_path, monkeypatch):
    settings = load_local_settings(None, ai_routes=["*=scripted:text=Hi there"], environ={})
    return BindingHost(state_dir=tmp_path, settings=settings)


@pytest.fixture
def ai(host):
    return build(SPEC, host)


async def test_build_shares_one_service_per_host(host):
    first, second = build(SPEC, host), build(SPEC, host)
    assert isinstance(first, Ai)
    assert first.service is second.service
    assert host.services()["ai"] is first.service


async def test_run_answers_like_cloudflare(ai):
    result = await ai.run(FP16, {"messages": [{"role": "user", "content": "Hello"}]})
    assert result.response == "Hi there"
    assert result["usage"]["total_tokens"] == result.usage.prompt_tokens + 2
    assert json.loads(json.dumps(result)) == result.to_py()
    assert ai.lastRequestId and ai.aiGatewayLogId is None


async def test_run_errors_raise_ai_error(ai):
    with pytest.raises(AiError, match=r"^5006: Error: oneOf at '/' not met"):
        await ai.run(FP16, {"prompt": 1})


async def test_stream_can_be_returned_as_a_response_body(ai):
    stream = await ai.run(AWQ, {"prompt": "x", "stream": True})
    assert isinstance(stream, AiStream)
    response = Response(stream, headers={"content-type": "text/event-stream"})
    body = await response.text()
    assert body.startswith('data: {"response":"Hi"}\n\ndata: {"response":" there"}\n\n')
    assert body.endswith("data: [DONE]\n\n")


async def test_return_raw_response_json(ai):
    response = await ai.run(FP16, {"prompt": "x"}, {"returnRawResponse": True})
    assert isinstance(response, Response)
    assert response.status == 200
    assert response.headers.get("content-type").startswith("application/json")
    assert response.headers.get("cf-ai-req-id") == ai.lastRequestId
    assert (await response.json())["response"] == "Hi there"


async def test_return_raw_response_stream(ai):
    response = await ai.run(FP16, {"prompt": "x", "stream": True}, {"returnRawResponse": True})
    assert response.headers.get("content-type") == "text/event-stream"
    assert (await response.text()).endswith("data: [DONE]\n\n")


async def test_return_raw_response_carries_errors_instead_of_raising(ai):
    response = await ai.run("@cf/nope/nope", {"prompt": "x"}, {"returnRawResponse": True})
    assert response.status == 400
    body = await response.json()
    assert body["internalCode"] == 5007
    assert body["errors"] == [
        {"code": 5007, "message": "5007: No such model @cf/nope/nope or task"}
    ]


async def test_models(ai):
    records = await ai.models({"search": "13b-chat-awq"})
    assert [r.name for r in records] == [AWQ]


async def test_describe_and_startup_hooks(ai):
    await KIND.startup(ai)
    rows = ai.service.describe()
    names = [entry.name for entry in ai.service.catalogue.entries()]
    assert [row.model for row in rows] == names
    text = [row.model for row in rows if row.task == "Text Generation"]
    assert all(str(row) == f"{row.model} → scripted: fixed text" for row in rows
               if row.task == "Text Generation")
    # the banner folds the models that share an engine into one line
    banner = KIND.describe(ai)
    runnable = [row for row in rows if get_task(row.task) is not None]
    assert banner[0] == f"{len(runnable)} models → scripted: fixed text" and text
    assert len(banner) < 20 and FP16 in text


async def test_the_side_app_is_the_rest_api_on_the_shared_service(ai, host):
    import httpx

    side = KIND.side_app(host, None)
    assert side.title == "Workers AI REST API"
    transport = httpx.ASGITransport(app=side.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.localhost") as client:
        url = f"/client/v4/accounts/x/ai/run/{FP16}"
        answer = (await client.post(url, json={"prompt": "x"})).json()
    assert answer["result"]["response"] == "Hi there"
    assert side.app.app.state.service is ai.service  # built on the first request


async def test_an_engine_set_from_python_serves_every_model(ai):
    engine = ScriptedEngine(["first", "second"])
    ai.service.set_engine("*", engine)
    assert (await ai.run(FP16, {"prompt": "x"})).response == "first"
    assert (await ai.run(AWQ, {"prompt": "x"})).response == "second"


def test_unemulated_methods_say_so(ai):
    with pytest.raises(NotImplementedError, match="AI Gateway is not emulated"):
        ai.gateway("my-gateway")
    with pytest.raises(NotImplementedError, match="AutoRAG"):
        ai.autorag()


async def test_closing_the_response_stops_the_engine(ai):
    closed = []

    class Slow(ScriptedEngine):
        async def generate(self, request):
            try:
                for word in ["a", " b", " c", " d"]:
                    yield word
            finally:
                closed.append(True)

    ai.service.set_engine("*", Slow())
    stream = await ai.run(FP16, {"prompt": "x", "stream": True})
    response = Response(stream, headers={"content-type": "text/event-stream"})
    body = response.body_iter()
    assert await anext(body) == b'data: {"response":"a"}\n\n'
    await response.aclose()  # what the server does when the client goes away
    assert closed == [True]


async def test_a_rebuild_with_new_routes_reconfigures_the_shared_service(host):
    first = build(SPEC, host)
    assert (await first.run(FP16, {"prompt": "x"})).response == "Hi there"
    python_engine = ScriptedEngine(text="from python")
    first.service.set_engine(AWQ, python_engine)
    # e.g. edge.toml edited: `edge dev` gives the host its new settings, then rebuilds
    host.settings = load_local_settings(None, ai_routes=["*=scripted:text=changed"], environ={})
    second = build(SPEC, host)
    assert second.service is first.service
    assert (await second.run(FP16, {"prompt": "x"})).response == "changed"
    assert (await second.run(AWQ, {"prompt": "x"})).response == "from python"
    assert second.service.reconfigure(host.settings.ai) is False  # unchanged: nothing to do
