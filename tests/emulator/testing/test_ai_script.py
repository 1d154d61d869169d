"""emulator.testing.ai_script: scripted env.AI replies through the real binding path."""

import textwrap

import pytest

from emulator.testing import AiError, AiScript, ScriptError, load_worker, stream

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"
OTHER = "@cf/meta/llama-2-7b-chat-fp16"

WORKER = '''
import json
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        spec = await request.json()
        try:
            result = await self.env.AI.run(spec["model"], spec["inputs"], spec.get("options"))
        except Exception as exc:
            if spec.get("reraise"):
                raise
            return Response.json({"error": str(exc)}, status=502)
        if spec["inputs"].get("stream"):
            return Response(result, headers={"content-type": "text/event-stream"})
        return Response.json(result)
'''


@pytest.fixture
def project(tmp_path):
    (tmp_path / "entry.py").write_text(textwrap.dedent(WORKER))
    (tmp_path / "wrangler.toml").write_text(
        'name = "ai"\nmain = "entry.py"\ncompatibility_date = "2025-06-01"\n'
        'compatibility_flags = ["python_workers"]\n[ai]\nbinding = "AI"\n'
    )
    return tmp_path


def chat(text="Hi", **extra):
    return {"messages": [{"role": "user", "content": text}], **extra}


async def run(worker, model=MODEL, inputs=None, **spec):
    return await worker.fetch("/", json={"model": model, "inputs": inputs or chat(), **spec})


async def test_text_reply_in_cloudflare_shape(project):
    async with load_worker(project, ai={MODEL: "Hello there, friend"}) as worker:
        body = await (await run(worker)).json()
        assert body["response"] == "Hello there, friend"
        assert body["usage"]["completion_tokens"] == 3
        assert body["usage"]["total_tokens"] == (
            body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
        )


async def test_list_of_replies_in_order_then_a_clear_failure(project):
    script = AiScript({MODEL: ["one", "two"]})
    async with load_worker(project, ai=script) as worker:
        assert (await (await run(worker)).json())["response"] == "one"
        assert (await (await run(worker)).json())["response"] == "two"
        # the worker turns the error into a 502, but the test still fails, clearly
        with pytest.raises(ScriptError, match="more often than the 2 scripted replies"):
            await run(worker)


async def test_unscripted_model_fails_the_test_with_a_hint(project):
    async with load_worker(project, ai={MODEL: "x"}) as worker:
        with pytest.raises(ScriptError, match=r"ai_script.set\('@cf/meta/llama-2-7b-chat-fp16'"):
            await run(worker, OTHER)


async def test_globs_and_default(project):
    script = AiScript({"@cf/meta/*": "meta"}, default="anything")
    async with load_worker(project, ai=script) as worker:
        assert (await (await run(worker, OTHER)).json())["response"] == "meta"
        assert (await (await run(worker, MODEL)).json())["response"] == "anything"


async def test_function_of_the_inputs_sync_and_async(project):
    async def shout(inputs):
        return inputs["messages"][-1]["content"].upper()

    script = AiScript({MODEL: lambda inputs: f"max={inputs.get('max_tokens')}", OTHER: shout})
    async with load_worker(project, ai=script) as worker:
        body = await (await run(worker, inputs=chat(max_tokens=7))).json()
        assert body["response"] == "max=7"
        assert (await (await run(worker, OTHER, chat("quiet"))).json())["response"] == "QUIET"


async def test_function_may_raise_or_return_other_replies(project):
    def pick(inputs):
        if inputs["messages"][-1]["content"] == "busy":
            raise AiError(3040)
        return stream(["a", "b"])

    async with load_worker(project, ai={MODEL: pick}) as worker:
        assert (await (await run(worker)).json())["response"] == "ab"
        error = (await (await run(worker, inputs=chat("busy"))).json())["error"]
        assert error == "3040: No more data centers to forward the request to"


@pytest.mark.parametrize(("code", "text"), [(3040, "No more data centers"), (3007, "timeout")])
async def test_ai_errors_reach_the_worker(project, code, text):
    async with load_worker(project, ai={MODEL: AiError(code)}) as worker:
        with pytest.raises(AiError) as info:
            await run(worker, reraise=True)
        assert info.value.code == code and text in str(info.value)
        assert worker.ai_calls[-1].error is info.value


async def test_stream_with_chosen_chunks_frame_by_frame(project):
    chunks = ["Hel", "lo ", "wörld"]
    async with load_worker(project, ai={MODEL: stream(chunks)}) as worker:
        response = await run(worker, inputs=chat(stream=True))
        assert response.headers.get("content-type") == "text/event-stream"
        events = [event async for event in response.iter_sse()]
    assert [e.json()["response"] for e in events[:3]] == chunks
    assert events[3].json()["usage"]["completion_tokens"] == 3
    assert events[-1].data == "[DONE]" and len(events) == 5


async def test_stream_with_a_mid_stream_error(project):
    reply = stream(["partial"], error=AiError(3007))
    async with load_worker(project, ai={MODEL: reply}) as worker:
        events = [e async for e in (await run(worker, inputs=chat(stream=True))).iter_sse()]
    assert events[0].json() == {"response": "partial"}
    assert events[-1].event == "error"
    assert events[-1].json()["code"] == 3007
    assert all(e.data != "[DONE]" for e in events)


async def test_text_reply_streams_word_by_word(project):
    async with load_worker(project, ai={MODEL: "one two three"}) as worker:
        events = [e async for e in (await run(worker, inputs=chat(stream=True))).iter_sse()]
    assert [e.json()["response"] for e in events[:3]] == ["one", " two", " three"]


async def test_schema_validation_runs_before_the_script(project):
    calls = []

    def never(inputs):
        calls.append(inputs)
        return "unreachable"

    async with load_worker(project, ai={MODEL: never}) as worker:
        body = await (await run(worker, inputs={"messages": "not a list"})).json()
        assert body["error"].startswith("5006: ")
        body = await (await run(worker, "@cf/nobody/no-such-model")).json()
        assert body["error"].startswith("5007: ")
    assert calls == []
    assert [c.error.code for c in worker.ai_calls] == [5006, 5007]


async def test_calls_are_recorded_with_model_inputs_options(project):
    script = AiScript({"*": "ok"})
    async with load_worker(project, ai=script) as worker:
        await run(worker, inputs=chat("first"), options={"gateway": {"id": "g"}})
        await run(worker, OTHER, chat("second", max_tokens=5))
    assert [c.model for c in script.calls] == [MODEL, OTHER]
    first = script.calls[0]
    assert first.messages == [{"role": "user", "content": "first"}]
    assert first.options == {"gateway": {"id": "g"}}
    assert first.result["response"] == "ok" and first.error is None
    assert script.last_call.inputs == chat("second", max_tokens=5)
    assert script.calls_for(OTHER) == [script.calls[1]]
    assert worker.ai_calls is script.calls


def test_bad_scripts_are_rejected_early():
    with pytest.raises(TypeError, match="must be a str, a list of replies"):
        AiScript({MODEL: 42})
    with pytest.raises(ValueError, match="empty"):
        AiScript({MODEL: []})
    with pytest.raises(TypeError, match="chunks must be str"):
        stream([b"bytes"])
    with pytest.raises(TypeError, match="must be an AiError"):
        stream(["a"], error=ValueError("x"))
    with pytest.raises(ScriptError, match="never called"):
        AiScript().last_call  # noqa: B018


async def test_route_spec_engine(project):
    async with load_worker(project, ai="*=scripted:text=canned") as worker:
        assert (await (await run(worker)).json())["response"] == "canned"
        assert worker.ai_script is None and len(worker.ai_calls) == 1


async def test_engine_object(project):
    from bindings.ai.engines.scripted import ScriptedEngine

    engine = ScriptedEngine(text="from an engine")
    async with load_worker(project, ai=engine) as worker:
        assert (await (await run(worker)).json())["response"] == "from an engine"
    assert engine.requests[0].model == MODEL and engine.closed


def test_bad_ai_argument(project):
    with pytest.raises(ValueError, match="expected 'llama'"):
        load_worker(project, ai="lama")
    with pytest.raises(TypeError, match="ai= takes"):
        load_worker(project, ai=3.5)


@pytest.mark.llama
async def test_llama_switch_shares_one_model_per_process(project):
    pytest.importorskip("llama_cpp")
    from emulator.testing import harness

    prompt = {"prompt": "The capital of France is", "max_tokens": 4, "raw": True}
    for _ in range(2):  # closing a worker must not unload the shared model
        async with load_worker(project, ai="llama") as worker:
            body = await (await run(worker, inputs=prompt)).json()
            assert body["usage"]["completion_tokens"] > 0
            assert worker.ai_script is None and worker.ai_calls[0].inputs == prompt
    engine = harness._shared_llama()
    assert engine.describe(MODEL) and (await engine.health()).ok


async def test_user_catalogue_entries_from_edge_toml(project):
    from bindings.ai.catalogue import ENTRIES_DIR

    shipped = (ENTRIES_DIR / "llama-2-7b-chat-fp16.md").read_text()
    (project / "models").mkdir()
    (project / "models" / "mine.md").write_text(
        shipped.replace('name: "@cf/meta/llama-2-7b-chat-fp16"', 'name: "@cf/me/my-model"')
    )
    (project / "edge.toml").write_text('[ai]\ncatalogue = ["./models"]\n')
    async with load_worker(project, ai={"@cf/me/my-model": "mine"}) as worker:
        assert (await (await run(worker, "@cf/me/my-model")).json())["response"] == "mine"
    (project / "edge.toml").unlink()
    async with load_worker(project, ai={"*": "x"}) as worker:  # gone again: 5007
        assert (await (await run(worker, "@cf/me/my-model")).json())["error"].startswith("5007")
