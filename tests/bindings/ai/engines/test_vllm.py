"""The vLLM engine against a protocol-faithful fake vLLM served by real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from bindings.ai.engines import create_engine
from bindings.ai.engines.base import GenerationRequest, Usage
from bindings.ai.engines.http_errors import BackendUnavailable
from bindings.ai.engines.vllm import VllmEngine, base_url, create, sampling_params
from bindings.ai.errors import AiError
from bindings.ai.routing import Route
from emulator.local_settings import AiSettings
from tests.fakes.fake_vllm import FakeVllm
from tests.fakes.loopback import free_port, serve

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"
SERVED = "TheBloke/Llama-2-13B-chat-AWQ"


@pytest.fixture
def fake():
    return FakeVllm(model=SERVED, loras=("my-adapter",))


@pytest.fixture
def server(fake):
    with serve(fake.app()) as srv:
        yield srv


def engine_for(*urls: str, served: str | None = SERVED, **options) -> VllmEngine:
    return create(Route(MODEL, "vllm", urls=urls, served_model=served, options=options))


def req(prompt: str = "[INST] Hi [/INST]", **fields) -> GenerationRequest:
    return GenerationRequest(model=MODEL, prompt=prompt, stream=True, **fields)


async def collect(engine: VllmEngine, request: GenerationRequest) -> tuple[str, Usage]:
    parts: list[str] = []
    usage = None
    async for item in engine.generate(request):
        if isinstance(item, Usage):
            usage = item
        else:
            parts.append(item)
    assert usage is not None
    return "".join(parts), usage


async def test_streams_the_reply_and_reports_usage(fake, server):
    engine = engine_for(server.url)
    text, usage = await collect(engine, req("one two three"))
    await engine.close()
    assert text == fake.reply
    assert usage == Usage(prompt_tokens=3, completion_tokens=len(fake.reply.split()))
    sent = fake.requests[0]
    assert sent["model"] == SERVED
    assert sent["prompt"] == "one two three"
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_is_registered_under_vllm(server):
    engine = create_engine(Route(MODEL, "vllm", urls=(server.url,)))
    assert isinstance(engine, VllmEngine)
    await engine.close()


async def test_discovers_the_served_model_from_v1_models(fake, server):
    engine = engine_for(server.url + "/v1/", served=None)
    text, _ = await collect(engine, req())
    await engine.close()
    assert text == fake.reply
    assert fake.requests[0]["model"] == SERVED


def test_base_url_accepts_openai_style_base_urls():
    assert base_url("http://gpu1:8000/v1/") == "http://gpu1:8000"
    assert base_url("http://gpu1:8000") == "http://gpu1:8000"


def test_mapping_onto_vllm_constraints():
    params = sampling_params(
        req(
            temperature=3.5,
            top_p=1.7,
            top_k=40,
            seed=7,
            repetition_penalty=0.0,
            frequency_penalty=2.5,
            presence_penalty=-3.0,
            stop=["", "</s>"],
            max_tokens=64,
        )
    )
    assert params == {
        "max_tokens": 64,
        "temperature": 2.0,
        "top_p": 1.0,
        "top_k": 40,
        "seed": 7,
        "frequency_penalty": 2.0,
        "presence_penalty": -2.0,
        "stop": ["</s>"],
    }


def test_top_p_zero_means_greedy_and_unset_fields_are_not_sent():
    assert sampling_params(req(top_p=0.0, temperature=0.9)) == {
        "max_tokens": 256,
        "temperature": 0.0,
    }
    assert sampling_params(req()) == {"max_tokens": 256}
    assert "top_k" not in sampling_params(req(top_k=0))


def test_max_tokens_below_one_is_bad_input():
    with pytest.raises(AiError) as info:
        sampling_params(req(max_tokens=0))
    assert info.value.code == 5006


async def test_mapped_parameters_pass_the_real_validation(fake, server):
    engine = engine_for(server.url)
    request = req(
        temperature=5.0,
        top_p=2.0,
        top_k=50,
        seed=9999999999,
        repetition_penalty=2.0,
        frequency_penalty=2.0,
        presence_penalty=2.0,
        stop=["zzz"],
        max_tokens=3,
    )
    text, usage = await collect(engine, request)
    await engine.close()
    sent = fake.requests[0]
    assert (sent["temperature"], sent["top_p"], sent["top_k"], sent["seed"]) == (
        2.0,
        1.0,
        50,
        9999999999,
    )
    assert (sent["repetition_penalty"], sent["stop"], sent["max_tokens"]) == (2.0, ["zzz"], 3)
    assert usage.completion_tokens == 3
    assert text == " ".join(fake.reply.split()[:3])


async def test_lora_is_sent_as_the_adapters_served_model_name(fake, server):
    engine = engine_for(server.url, loras={"cf-public-adapter": "my-adapter"})
    await collect(engine, req(lora="cf-public-adapter"))
    await collect(engine, req(lora="my-adapter"))
    await engine.close()
    assert [r["model"] for r in fake.requests] == ["my-adapter", "my-adapter"]


async def test_stop_sequences_end_the_stream(fake, server):
    engine = engine_for(server.url)
    text, _ = await collect(engine, req(stop=["vLLM"]))
    await engine.close()
    assert text == fake.reply.split(" vLLM")[0]


@pytest.mark.parametrize("style", ["nested", "flat"])
async def test_backend_validation_error_carries_the_backends_message(fake, server, style):
    fake.error_style = style
    fake.fail_status, fake.fail_message = 400, "logit_bias contains key(s) that cannot be converted"
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req())
    await engine.close()
    assert info.value.code == 3010
    assert "logit_bias contains key(s)" in str(info.value)
    assert server.url in str(info.value)


async def test_context_length_error_is_3030(fake, server):
    fake.max_model_len = 10
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req("a b c d e f", max_tokens=8))
    await engine.close()
    assert info.value.code == 3030
    assert "maximum context length is 10 tokens" in str(info.value)


async def test_unknown_served_model_names_the_route_setting(server):
    engine = engine_for(server.url, served="no/such-model")
    with pytest.raises(AiError) as info:
        await collect(engine, req())
    await engine.close()
    assert info.value.code == 3043
    assert "does not exist" in str(info.value) and "served_model" in str(info.value)


@pytest.mark.parametrize(("status", "code"), [(429, 3040), (500, 3043), (503, 3043), (504, 3007)])
async def test_http_failures_map_to_cloudflare_codes(fake, server, status, code):
    fake.fail_status = status
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req())
    await engine.close()
    assert info.value.code == code
    assert server.url in str(info.value)


async def test_error_frame_mid_stream_raises_after_the_first_tokens(fake, server):
    fake.error_after = 2
    engine = engine_for(server.url)
    seen: list[str] = []
    with pytest.raises(AiError) as info:
        async for item in engine.generate(req()):
            seen.append(item)
    await engine.close()
    assert len(seen) == 2
    assert info.value.code == 3043
    assert "CUDA out of memory" in str(info.value)


async def test_malformed_frame_is_3043(fake, server):
    fake.malformed_after = 1
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req())
    await engine.close()
    assert info.value.code == 3043 and "malformed" in str(info.value)


async def test_stream_cut_before_done_is_an_error_not_a_silent_truncation(fake, server):
    fake.no_done = True
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req())
    await engine.close()
    assert info.value.code == 3043 and "[DONE]" in str(info.value)


async def test_without_a_usage_frame_chunks_are_counted_and_the_prompt_tokenized(fake, server):
    fake.no_usage = True
    engine = engine_for(server.url)
    _, usage = await collect(engine, req("one two three four"))
    _, again = await collect(engine, req("five six"))
    await engine.close()
    assert usage == Usage(4, len(fake.reply.split()))
    assert again.prompt_tokens == 2 and fake.tokenize_calls == 2


async def test_a_server_without_usage_or_tokenizer_reports_zero_prompt_tokens():
    frame = b'data: {"choices": [{"index": 0, "text": "hi"}]}\n\ndata: [DONE]\n\n'
    paths = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/v1/completions":
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=frame)
        return httpx.Response(404, json={"detail": "Not Found"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    engine = create(
        Route(MODEL, "vllm", urls=("http://gpu:8000",), served_model=SERVED), client=client
    )
    first = await collect(engine, req())
    second = await collect(engine, req())
    await client.aclose()
    assert first == second == ("hi", Usage(0, 1))
    # every known tokenizer route tried once, then not again for this replica
    assert paths.count("/tokenize") == 2 and paths.count("/extras/tokenize/count") == 1


async def test_connection_refused_names_the_url_and_how_to_start_vllm():
    url = f"http://127.0.0.1:{free_port()}"
    engine = engine_for(url)
    with pytest.raises(BackendUnavailable) as info:
        await collect(engine, req())
    await engine.close()
    message = str(info.value)
    assert info.value.code == 3043
    assert url in message and "connection refused" in message
    port = url.rsplit(":", 1)[1]
    assert f"edge ai serve {MODEL} --engine vllm --port {port}" in message
    assert f"`vllm serve {SERVED} --quantization awq" in message and f"--port {port}`" in message


async def test_a_stalled_backend_times_out_with_3007(fake, server):
    fake.hang_after = 1
    engine = engine_for(server.url, timeout=0.3)
    with pytest.raises(AiError) as info:
        await collect(engine, req())
    await engine.close()
    assert info.value.code == 3007
    assert server.url in str(info.value)


async def test_closing_the_stream_closes_the_upstream_request(fake, server):
    fake.reply = " ".join(f"w{i}" for i in range(400))
    fake.token_delay = 0.005
    engine = engine_for(server.url)
    stream = engine.generate(req(max_tokens=400))
    got = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    for _ in range(200):  # bounded: up to 2 s for the server to notice
        if fake.disconnects:
            break
        await asyncio.sleep(0.01)
    await engine.close()
    assert got == ["w0", " w1", " w2"]
    assert fake.disconnects == 1 and fake.completed == 0
    assert fake.tokens_sent < 400


async def test_plain_json_answer_from_a_non_streaming_server(fake):
    body = {
        "id": "x",
        "object": "text_completion",
        "model": SERVED,
        "choices": [{"index": 0, "text": "whole answer", "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["stream"] is True
        return httpx.Response(200, json=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    engine = create(
        Route(MODEL, "vllm", urls=("http://gpu:8000",), served_model=SERVED), client=client
    )
    text, usage = await collect(engine, req())
    await engine.close()
    assert not client.is_closed  # an injected client belongs to the caller
    await client.aclose()
    assert (text, usage) == ("whole answer", Usage(4, 2))


async def test_health_reports_url_model_and_latency(server):
    engine = engine_for(server.url)
    health = await engine.health()
    await engine.close()
    assert health.ok
    assert server.url in health.detail and SERVED in health.detail and " ms)" in health.detail


async def test_health_reports_a_dead_engine_and_a_wrong_model(fake, server):
    fake.health_status = 500
    engine = engine_for(server.url)
    dead = await engine.health()
    fake.health_status = 404  # servers without /health are judged by /v1/models
    wrong = await engine_for(server.url, served="other/model").health()
    fine = await engine.health()
    await engine.close()
    assert not dead.ok and "HTTP 500" in dead.detail
    assert not wrong.ok and "not other/model" in wrong.detail
    assert fine.ok


async def test_health_of_an_unreachable_backend():
    url = f"http://127.0.0.1:{free_port()}"
    engine = engine_for(url)
    health = await engine.health()
    await engine.close()
    assert not health.ok
    assert url in health.detail and "vllm serve" in health.detail


def test_describe_and_prompt_format():
    engine = engine_for("http://gpu1:8000", "http://gpu2:8000")
    label = engine.describe(MODEL)
    assert str(label) == f"vllm 2 replicas: http://gpu1:8000, http://gpu2:8000 ({SERVED})"
    assert (label.engine, label.model, label.stand_in) == ("vllm", SERVED, False)
    assert engine.prompt_format(MODEL) is None
    chatml = create(Route(MODEL, "vllm", urls=("http://gpu1:8000",), prompt_format="chatml"))
    assert chatml.prompt_format(MODEL).name == "chatml"


async def test_finished_streams_return_their_connection_to_the_pool(fake, server):
    engine = engine_for(server.url)
    for _ in range(3):
        await collect(engine, req())
    await engine.close()
    assert len(fake.peers) == 3 and len(set(fake.peers)) == 1


async def test_bearer_token_from_the_route_or_an_environment_variable(monkeypatch):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"object": "list", "data": [{"id": SERVED}]})

    from bindings.ai.engines import http_backend

    monkeypatch.setenv("EDGE_TEST_VLLM_KEY", "from-env")
    for options in ({"api_key": "inline"}, {"api_key_env": "EDGE_TEST_VLLM_KEY"}, {}):
        client = http_backend.make_client(options, transport=httpx.MockTransport(handler))
        await client.get("http://gpu:8000/v1/models")
        await client.aclose()
    assert seen == ["Bearer inline", "Bearer from-env", None]


# Through the AI service (what env.AI.run uses), routed with a route spec.


def service_for(url: str):
    from bindings.ai.service import AiService

    routes = [f"{MODEL}=vllm:{url},model={SERVED}"]
    return AiService.from_settings(AiSettings.from_specs(routes, environ={}))


async def test_env_ai_run_is_served_by_vllm_with_the_llama2_template(fake, server):
    service = service_for(server.url)
    result = await service.run(MODEL, {"messages": [{"role": "user", "content": "Hi"}]})
    await service.close()
    assert result["response"] == fake.reply
    assert fake.requests[0]["prompt"].startswith("[INST]")
    assert result["usage"]["completion_tokens"] == len(fake.reply.split())


async def test_closing_an_ai_stream_closes_the_upstream_request(fake, server):
    fake.reply = " ".join(f"w{i}" for i in range(400))
    fake.token_delay = 0.005
    service = service_for(server.url)
    stream = await service.run(MODEL, {"prompt": "Hi", "stream": True, "max_tokens": 400})
    frames = stream.__aiter__()
    first = await anext(frames)
    await stream.aclose()
    for _ in range(200):
        if fake.disconnects:
            break
        await asyncio.sleep(0.01)
    await service.close()
    assert first == b'data: {"response":"w0"}\n\n'
    assert fake.disconnects == 1 and fake.tokens_sent < 400


async def test_a_backend_failure_mid_stream_ends_the_sse_stream_with_an_error_frame(fake, server):
    fake.error_after = 2
    service = service_for(server.url)
    stream = await service.run(MODEL, {"prompt": "Hi", "stream": True})
    frames = [frame async for frame in stream]
    await service.close()
    assert len(frames) == 3 and b"[DONE]" not in frames[-1]
    assert frames[-1].startswith(b"event: error\n") and b"CUDA out of memory" in frames[-1]


async def test_bad_input_surfaces_on_iteration_not_on_the_call():
    engine = engine_for("http://gpu1:8000")
    stream = engine.generate(req(max_tokens=0))  # no exception yet
    with pytest.raises(AiError) as info:
        await anext(stream)
    await engine.close()
    assert info.value.code == 5006


# -- the served model's own template: /v1/chat/completions ---------------------------------
LLAMA31 = "@cf/meta/llama-3.1-8b-instruct"
FIXTURES = Path(__file__).parents[1] / "template_fixtures"


def chat_req(messages, prompt: str = "", **fields) -> GenerationRequest:
    return GenerationRequest(model=MODEL, prompt=prompt, messages=messages, chat=True,
                             stream=True, **fields)


async def test_a_chat_request_goes_to_the_chat_endpoint_with_the_messages(fake, server):
    fake.chat_template = (FIXTURES / "openhermes-2.5-mistral-7b.jinja").read_text()
    engine = engine_for(server.url)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    text, usage = await collect(engine, chat_req(messages, max_tokens=4, temperature=0.5))
    await engine.close()
    sent = fake.requests[0]
    assert sent["messages"] == messages and "prompt" not in sent
    assert sent["max_tokens"] == 4 and sent["temperature"] == 0.5
    assert sent["stream_options"] == {"include_usage": True}
    assert "continue_final_message" not in sent
    assert fake.rendered == ["<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi"
                             "<|im_end|>\n<|im_start|>assistant\n"]
    assert text == " ".join(fake.reply.split()[:4])
    assert usage == Usage(prompt_tokens=len(fake.rendered[0].split()), completion_tokens=4)


async def test_a_trailing_assistant_message_is_continued_not_answered(fake, server):
    fake.chat_template = (FIXTURES / "openhermes-2.5-mistral-7b.jinja").read_text()
    engine = engine_for(server.url)
    prefix = [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "One, two,"}]
    await collect(engine, chat_req(prefix))
    empty = [{"role": "user", "content": "Count"}, {"role": "assistant", "content": ""}]
    await collect(engine, chat_req(empty))
    await engine.close()
    first, second = fake.requests
    assert first["continue_final_message"] is True and first["add_generation_prompt"] is False
    assert fake.rendered[0].endswith("<|im_start|>assistant\nOne, two,")
    assert second["messages"] == empty[:1] and "continue_final_message" not in second
    assert fake.rendered[1].endswith("<|im_start|>assistant\n")


async def test_without_a_server_template_it_falls_back_to_the_catalogues_format(fake, server):
    assert fake.chat_template is None  # vLLM answers 400 "default chat template ..."
    engine = engine_for(server.url)
    messages = [{"role": "user", "content": "Hi"}]
    text, _ = await collect(engine, chat_req(messages, prompt="[INST] Hi [/INST]"))
    assert text == fake.reply
    assert [("messages" in r, r.get("prompt")) for r in fake.requests] == [
        (True, None), (False, "[INST] Hi [/INST]")]
    await collect(engine, chat_req(messages, prompt="[INST] Hi [/INST]"))
    await engine.close()
    assert "messages" not in fake.requests[2]  # remembered: straight to text completion


async def test_without_a_server_template_or_a_format_the_error_says_what_to_do(fake, server):
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, chat_req([{"role": "user", "content": "Hi"}]))
    await engine.close()
    assert info.value.code == 3043
    assert "has no chat template" in info.value.description
    assert "--chat-template" in info.value.description
    assert "prompt_format=" in info.value.description


async def test_a_template_that_refuses_the_messages_is_not_a_missing_template(fake, server):
    fake.chat_template = (FIXTURES / "mistral-7b-instruct-v0.2.jinja").read_text()
    engine = engine_for(server.url)
    bad = [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]
    with pytest.raises(AiError) as info:
        await collect(engine, chat_req(bad, prompt="fallback"))
    await engine.close()
    assert info.value.code == 3010 and "roles must alternate" in info.value.description
    assert len(fake.requests) == 1  # no silent fallback to another prompt


async def test_through_the_service_the_server_renders_the_models_own_template(fake, server):
    """@cf/meta/llama-3.1-8b-instruct on vLLM: the server applies Llama 3.1's template; on
    a server without one, edge's llama3.1 format sends the very same text."""
    from bindings.ai.catalogue import load_catalogue
    from bindings.ai.routing import RouteLayer, RouteTable, parse_routes
    from bindings.ai.service import AiService

    fake.chat_template = (FIXTURES / "llama-3.3-instruct.jinja").read_text()
    fake.bos_token = "<|begin_of_text|>"
    route = parse_routes([f"{LLAMA31}=vllm:{server.url},model={SERVED}"])
    service = AiService(load_catalogue(), RouteTable([RouteLayer("cli", tuple(route))], None))
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    try:
        await service.run(LLAMA31, {"messages": messages})
        served = fake.rendered[-1]
        fake.chat_template = None
        await service.run(LLAMA31, {"messages": messages})
    finally:
        await service.close()
    assert served.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                             "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024")
    fallback = fake.requests[-1]["prompt"]
    assert fallback == served.removeprefix("<|begin_of_text|>")  # the tokenizer adds BOS


# --- text embeddings over /v1/embeddings ----------------------------------------------------


async def test_embeddings_over_the_openai_endpoint_in_index_order():
    from bindings.ai.tasks.text_embeddings import EmbeddingRequest


    fake = FakeVllm(model="BAAI/bge-base-en-v1.5", embedding_dimensions=768)
    with serve(fake.app()) as server:
        engine = create(Route("*", "vllm", urls=(server.url + "/v1",)))
        texts = ["the cat sat", "stocks fell sharply", "the cat sat down"]
        answer = await engine.infer(EmbeddingRequest("@cf/baai/bge-base-en-v1.5",
                                                     "text-embeddings", texts=texts))
        await engine.close()
    vectors = answer.vectors
    assert len(vectors) == 3 and len(vectors[0]) == 768 and answer.tokens == 4 + 4 + 5
    dot = [sum(a * b for a, b in zip(vectors[0], v, strict=True)) for v in vectors]
    assert dot[2] > dot[1]  # read by index, though the server answered in reverse
    assert fake.requests[-1] == {"model": "BAAI/bge-base-en-v1.5", "input": texts,
                                 "encoding_format": "float"}


async def test_embeddings_from_a_generative_model_or_too_long_are_cloudflare_errors():
    from bindings.ai.tasks.text_embeddings import EmbeddingRequest


    request = EmbeddingRequest("@cf/baai/bge-base-en-v1.5", "text-embeddings", texts=["hi"])
    with serve(FakeVllm().app()) as server:
        engine = create(Route("*", "vllm", urls=(server.url,)))
        with pytest.raises(AiError, match="does not support Embeddings API") as caught:
            await engine.infer(request)
        assert caught.value.code == 3010
        await engine.close()
    with serve(FakeVllm(embedding_dimensions=8, max_model_len=4).app()) as server:
        engine = create(Route("*", "vllm", urls=(server.url,)))
        request.texts = ["one two three four five"]
        with pytest.raises(AiError, match="maximum context length") as caught:
            await engine.infer(request)
        assert caught.value.code == 3030
        await engine.close()
