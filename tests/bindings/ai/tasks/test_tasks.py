"""The task seam: adding a task is one module and one `TASKS` row (a toy task proves it)."""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest
from click.testing import CliRunner

from bindings.ai import tasks
from bindings.ai.binary import AiBinary
from bindings.ai.binding import Ai
from bindings.ai.catalogue import load_catalogue
from bindings.ai.engines import engines_serving
from bindings.ai.errors import AiError
from bindings.ai.rest import create_app
from bindings.ai.routing import RouteError, RouteLayer, RouteTable, parse_routes
from bindings.ai.service import AiService
from emulator.cli import main
from emulator.testing.ai_script import AiScript, output, stream
from tests.support import toy_task

TOY = "@cf/toy/reverse"
TOY_BYTES = "@cf/toy/reverse-bytes"
FP16 = "@cf/meta/llama-2-7b-chat-fp16"


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A catalogue folder with two toy models, and the toy task's row in the table."""
    monkeypatch.setitem(tasks.TASKS, toy_task.NAME, "tests.support.toy_task")
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "reverse.md").write_text(toy_task.entry_text(TOY, toy_task.JSON_OUT))
    (folder / "reverse-bytes.md").write_text(toy_task.entry_text(TOY_BYTES, toy_task.BINARY_OUT))
    return folder


def service_with(models, *specs: str) -> AiService:
    table = RouteTable([RouteLayer("--ai-route", tuple(parse_routes(list(specs))))])
    return AiService(load_catalogue([models]), table)


async def test_a_new_task_runs_on_an_engine_declaring_its_capability(models):
    service = service_with(models)
    engine = toy_task.ReversingEngine()
    service.set_engine("@cf/toy/*", engine)
    result = await service.run(TOY, {"text": ["stressed", "drawer"]})
    assert result == {"reversed": ["desserts", "reward"]} and result.reversed[0] == "desserts"
    # a single string is the same request as a batch of one
    assert (await service.run(TOY, {"text": "abc"})).reversed == ["cba"]
    assert [r.inputs["texts"] for r in engine.requests] == [["stressed", "drawer"], ["abc"]]


async def test_binary_outputs_come_back_as_bytes_with_the_schemas_type(models):
    service = service_with(models)
    service.set_engine("*", toy_task.ReversingEngine())
    result = await service.run(TOY_BYTES, {"text": ["ab", "cd"]})
    assert isinstance(result, AiBinary)
    assert (result.data, result.media_type) == (b"ba\ndc", "text/x-reversed")
    assert b"".join([chunk async for chunk in result]) == b"ba\ndc"  # a ReadableStream
    raw = await Ai(service).run(TOY_BYTES, {"text": "xy"}, {"returnRawResponse": True})
    assert raw.headers.get("content-type") == "text/x-reversed"
    assert await raw.bytes() == b"yx"


async def test_schema_violations_never_reach_the_engine(models):
    service = service_with(models)
    engine = toy_task.ReversingEngine()
    service.set_engine("*", engine)
    for bad in ({}, {"text": ""}, {"text": ["a", "b", "c", "d"]}, {"text": 3}):
        with pytest.raises(AiError) as info:
            await service.run(TOY, bad)
        assert info.value.code == 5006
    assert engine.requests == []


async def test_an_engine_without_the_capability_is_a_5007_saying_how_to_route(models):
    service = service_with(models, "*=vllm:http://127.0.0.1:9")
    with pytest.raises(AiError) as info:
        await service.run(TOY, {"text": "abc"})
    message = str(info.value)
    assert info.value.code == 5007 and info.value.status == 400
    assert f"{TOY} is a Text Reversal model" in message
    assert "'*=vllm:http://127.0.0.1:9' (--ai-route)" in message
    assert "serves text-embeddings, text-generation, not text-reversal" in message
    assert f"--ai-route '{TOY}=scripted'" in message
    # text generation still runs on the same route table
    assert engines_serving("text-generation")[:3] == ["llamacpp", "vllm", "tgi"]
    await service.close()


async def test_startup_rejects_a_model_routed_by_name_to_an_engine_that_cannot_serve_it(models):
    service = service_with(models, f"{TOY}=tgi:http://127.0.0.1:9")
    with pytest.raises(RouteError, match=r"Text Reversal model.*not text-reversal"):
        await service.startup()
    await service.close()


async def test_a_catalogue_task_without_a_module_is_a_clear_5007(models, monkeypatch):
    monkeypatch.delitem(tasks.TASKS, toy_task.NAME)
    service = service_with(models, "*=scripted")
    with pytest.raises(AiError, match="no local Text Reversal pipeline yet") as info:
        await service.run(TOY, {"text": "abc"})
    assert info.value.code == 5007
    assert any("not served" in str(line) for line in service.describe())


async def test_an_entry_naming_no_task_is_a_clear_5007(tmp_path):
    (tmp_path / "m.md").write_text(
        "---\nmodel:\n  name: '@cf/me/taskless'\n"
        "json_schema:\n  input: '{\"type\": \"object\"}'\n---\n"
    )
    service = service_with(tmp_path, "*=scripted")
    with pytest.raises(AiError, match=r"names no task \(model.task.name in its catalogue entry\)"):
        await service.run("@cf/me/taskless", {})


async def test_the_scripted_route_answers_any_task_with_its_sample(models):
    service = service_with(models, "*=scripted")
    assert (await service.run(TOY, {"text": ["ab", "cd"]})).reversed == ["ba", "dc"]
    service = service_with(models, "*=scripted:text=xyz")
    assert (await service.run(TOY, {"text": "ab"})).reversed == ["zyx"]


async def test_ai_script_answers_any_task(models):
    # a text reply goes through the task's sample; output(...) is the engine's own result
    script = AiScript({TOY: "hello", TOY_BYTES: output(["as", "is"])})
    service = service_with(models)
    service.set_engine("*", script)
    assert (await service.run(TOY, {"text": ["a", "b"]})).reversed == ["olleh", "olleh"]
    assert (await service.run(TOY_BYTES, {"text": "a"})).data == b"as\nis"
    script.set(TOY, output(["exactly this"]))
    assert (await service.run(TOY, {"text": "a"})).reversed == ["exactly this"]
    # replies that do not fit the task fail the test (the harness reports `problems`)
    script.set(TOY, stream(["a"]))
    with pytest.raises(AssertionError, match="stream"):
        await service.run(TOY, {"text": "a"})
    script.set(FP16, {"response": "x"})  # a dict is an engine output too
    with pytest.raises(AiError):
        await service.run(FP16, {"prompt": "hi"})
    assert "is an engine output" in str(script.problems[-1])


async def test_the_rest_api_answers_binary_outputs_raw_and_pages_render(models):
    service = service_with(models, "*=scripted")
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.localhost") as client:
        url = f"/client/v4/accounts/x/ai/run/{TOY_BYTES}"
        answer = await client.post(url, json={"text": ["ab", "cd"]})
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/x-reversed"
        assert answer.content == b"ba\ndc"
        answer = await client.post(f"/client/v4/accounts/x/ai/run/{TOY}", json={"text": "ab"})
        assert answer.json()["result"] == {"reversed": ["ba"]}
        page = (await client.get(f"/models/{TOY_BYTES}")).text
    assert 'data-testid="field-text"' in page  # the generic playground, from the schema
    assert 'data-testid="snippet-worker"' in page and 'data-testid="snippet-curl"' in page
    text = html.unescape(re.sub(r"<[^>]+>", "", page))  # minus the colouring spans
    assert '"text": ["stressed", "drawer"]' in text  # the task's example inputs
    assert "--output output.x-reversed" in text
    assert 'Response(response, headers={"content-type": "text/x-reversed"})' in text


def test_the_cli_takes_the_tasks_flags_and_writes_binary_outputs(models, tmp_path, monkeypatch):
    monkeypatch.delenv("EDGE_AI_ROUTES", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "edge.toml").write_text('[ai]\ncatalogue = ["./models"]\n')
    runner = CliRunner()

    def run(*args):
        argv = ["ai", "run", *args, "--ai-route", "*=scripted"]
        return runner.invoke(main, argv, catch_exceptions=False)

    assert "--text" in runner.invoke(main, ["ai", "run", "--help"]).stdout
    result = run(TOY, "--text", "abc")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"reversed": ["cba"]}
    result = run(TOY_BYTES, "--text", "abc", "-o", "out.bin")
    assert result.exit_code == 0 and (tmp_path / "out.bin").read_bytes() == b"cba"
    assert "3 bytes, text/x-reversed" in result.stderr
    result = run(TOY, "--prompt", "abc")
    assert result.exit_code == 2
    assert "--prompt do(es) not apply to @cf/toy/reverse, a Text Reversal model" in result.stderr
    result = run(TOY)
    assert result.exit_code == 2 and "give --text" in result.stderr
    result = run(FP16, "--text", "abc")
    assert result.exit_code == 2 and "--text do(es) not apply" in result.stderr
