"""The TGI engine against a protocol-faithful fake TGI served by real uvicorn on loopback."""

from __future__ import annotations

import asyncio

import pytest

from bindings.ai.engines import create_engine
from bindings.ai.engines.base import GenerationRequest, Usage
from bindings.ai.engines.http_errors import BackendUnavailable
from bindings.ai.engines.tgi import TgiEngine, create, generate_parameters
from bindings.ai.errors import AiError
from bindings.ai.routing import Route
from tests.fakes.fake_tgi import FakeTgi
from tests.fakes.loopback import free_port, serve

MODEL = "@cf/meta/llama-2-7b-chat-fp16"


@pytest.fixture
def fake():
    return FakeTgi()


@pytest.fixture
def server(fake):
    with serve(fake.app()) as srv:
        yield srv


def engine_for(*urls: str, **options) -> TgiEngine:
    return create(Route(MODEL, "tgi", urls=urls, options=options))


def req(prompt: str = "[INST] Hi [/INST]", **fields) -> GenerationRequest:
    return GenerationRequest(model=MODEL, prompt=prompt, stream=True, **fields)


async def collect(engine: TgiEngine, request: GenerationRequest) -> tuple[str, Usage]:
    parts, usage = [], None
    async for item in engine.generate(request):
        if isinstance(item, Usage):
            usage = item
        else:
            parts.append(item)
    assert usage is not None
    return "".join(parts), usage


async def test_streams_tokens_without_special_ones_and_usage_from_details(fake, server):
    engine = engine_for(server.url)
    text, usage = await collect(engine, req("one two three"))
    await engine.close()
    assert text == fake.reply
    # input_length counts <s>; generated_tokens counts the </s> TGI generated too
    assert usage == Usage(prompt_tokens=4, completion_tokens=len(fake.reply.split()) + 1)
    sent = fake.requests[0]
    assert sent["inputs"] == "one two three"
    assert sent["stream"] is True and sent["parameters"]["details"] is True


async def test_is_registered_under_tgi(server):
    engine = create_engine(Route(MODEL, "tgi", urls=(server.url,)))
    assert isinstance(engine, TgiEngine)
    await engine.close()


def test_temperature_zero_means_greedy_without_sampling_warpers():
    params = generate_parameters(req(temperature=0.0, top_p=0.5, top_k=10, max_tokens=32))
    assert params == {"max_new_tokens": 32, "details": True, "do_sample": False}
    assert generate_parameters(req(top_p=0.0, temperature=0.7))["do_sample"] is False


def test_mapping_onto_tgi_validation():
    params = generate_parameters(
        req(
            temperature=0.6,
            top_p=1.0,
            top_k=40,
            seed=42,
            repetition_penalty=0.0,
            frequency_penalty=2.5,
            presence_penalty=1.0,
            stop=["", "</s>"],
            lora="cf-adapter",
        ),
        {"cf-adapter": "my-org/my-adapter"},
    )
    assert params == {
        "max_new_tokens": 256,
        "details": True,
        "temperature": 0.6,
        "do_sample": True,
        "top_k": 40,
        "seed": 42,
        "frequency_penalty": 2.0,
        "stop": ["</s>"],
        "adapter_id": "my-org/my-adapter",
    }
    assert generate_parameters(req(top_p=0.9))["top_p"] == 0.9
    assert "temperature" not in generate_parameters(req())  # unset: TGI's default applies


def test_max_tokens_below_one_is_bad_input():
    with pytest.raises(AiError) as info:
        generate_parameters(req(max_tokens=0))
    assert info.value.code == 5006


@pytest.mark.parametrize(
    "fields",
    [
        {"temperature": 0.0},
        {"temperature": 5.0, "top_p": 2.0, "top_k": 50, "repetition_penalty": 2.0},
        {"top_p": 0.0, "repetition_penalty": 0.0, "frequency_penalty": 2.0, "seed": 9999999999},
    ],
)
async def test_mapped_parameters_pass_tgis_validation(fake, server, fields):
    engine = engine_for(server.url)
    text, _ = await collect(engine, req(**fields))
    await engine.close()
    assert text == fake.reply


async def test_lora_becomes_adapter_id(fake, server):
    engine = engine_for(server.url)
    await collect(engine, req(lora="my-org/my-adapter"))
    await engine.close()
    assert fake.requests[0]["parameters"]["adapter_id"] == "my-org/my-adapter"


async def test_stop_sequence_ends_generation_and_is_cut_from_the_text(fake, server):
    # TGI leaves the stop string in its text (as the fake does); the engine drops it,
    # as llama.cpp and vLLM do, and still reads TGI's final frame for the token counts.
    engine = engine_for(server.url)
    text, usage = await collect(engine, req(stop=["TGI"]))
    assert fake.requests[-1]["parameters"]["stop"] == ["TGI"]
    assert "TGI" not in text and "token by token" not in text and text.endswith(" ")
    assert usage.prompt_tokens > 0
    # a stop TGI cannot see (it ends inside a token) is cut here all the same
    text, usage = await collect(engine, req(stop=["oken by"]))
    await engine.close()
    assert text.endswith(" t") and "oken" not in text


async def test_prompt_over_max_input_tokens_fails_before_generation(fake, server):
    fake.max_input_tokens, fake.max_total_tokens = 5, 300
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req("a b c d e f g h", max_tokens=4))
    await engine.close()
    assert info.value.code == 3030
    assert "max_input_tokens limit of 5" in str(info.value) and "9 tokens" in str(info.value)
    assert fake.requests == []  # nothing was sent to generate


async def test_short_prompts_skip_tokenize_and_info_is_cached(fake, server):
    engine = engine_for(server.url)
    await collect(engine, req("short"))
    await collect(engine, req("short again"))
    await engine.close()
    assert fake.tokenize_calls == 0 and fake.info_calls == 1


async def test_without_tokenize_tgis_own_validation_answers_3030(fake, server):
    fake.max_input_tokens, fake.has_tokenize, fake.legacy_info = 5, False, True
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req("a b c d e f g h", max_tokens=4))
    await engine.close()
    assert info.value.code == 3030
    assert "`inputs` must have less than 5 tokens" in str(info.value)
    assert len(fake.requests) == 1


async def test_total_tokens_over_the_limit_is_3030(fake, server):
    fake.max_total_tokens = 20
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req("a b", max_tokens=30))
    await engine.close()
    assert info.value.code == 3030 and "must be <= 20" in str(info.value)


async def test_validation_error_carries_tgis_message(fake, server):
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req(stop=["a", "b", "c", "d", "e"]))
    await engine.close()
    assert info.value.code == 3010
    assert "`stop` supports up to 4 stop sequences. Given: 5" in str(info.value)
    assert server.url in str(info.value)


@pytest.mark.parametrize(("status", "code"), [(429, 3040), (424, 3043), (500, 3043)])
async def test_http_failures_map_to_cloudflare_codes(fake, server, status, code):
    fake.fail_status = status
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req())
    await engine.close()
    assert info.value.code == code
    assert server.url in str(info.value)
    if status == 429:
        assert "Model is overloaded" in str(info.value)


async def test_error_frame_mid_stream(fake, server):
    fake.error_after = 3
    engine = engine_for(server.url)
    seen = []
    with pytest.raises(AiError) as info:
        async for item in engine.generate(req()):
            seen.append(item)
    await engine.close()
    assert len(seen) == 3
    assert info.value.code == 3043 and "CUDA out of memory" in str(info.value)


async def test_malformed_frame_is_3043(fake, server):
    fake.malformed_after = 2
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req())
    await engine.close()
    assert info.value.code == 3043 and "malformed" in str(info.value)


async def test_stream_closed_before_the_final_frame_is_an_error(fake, server):
    fake.no_final = True
    engine = engine_for(server.url)
    with pytest.raises(AiError) as info:
        await collect(engine, req())
    await engine.close()
    assert info.value.code == 3043 and "final frame" in str(info.value)


async def test_connection_refused_says_how_to_start_tgi():
    port = free_port()
    engine = engine_for(f"http://127.0.0.1:{port}")
    with pytest.raises(BackendUnavailable) as info:
        await collect(engine, req())
    await engine.close()
    assert f"http://127.0.0.1:{port}" in str(info.value)
    message = str(info.value)
    assert f"edge ai serve {MODEL} --engine tgi --port {port}" in message
    assert "`text-generation-launcher --model-id meta-llama/Llama-2-7b-chat-hf" in message
    assert f"--hostname 127.0.0.1 --port {port}`" in message


async def test_a_stalled_backend_times_out_with_3007(fake, server):
    fake.hang_after = 2
    engine = engine_for(server.url, timeout=0.3)
    with pytest.raises(AiError) as info:
        await collect(engine, req())
    await engine.close()
    assert info.value.code == 3007


async def test_closing_the_stream_closes_the_upstream_request(fake, server):
    fake.reply = " ".join(f"t{i}" for i in range(400))
    fake.token_delay = 0.005
    engine = engine_for(server.url)
    stream = engine.generate(req(max_tokens=400))
    got = [await anext(stream) for _ in range(2)]
    await stream.aclose()
    for _ in range(200):
        if fake.disconnects:
            break
        await asyncio.sleep(0.01)
    await engine.close()
    assert got == ["t0", " t1"]
    assert fake.disconnects == 1 and fake.completed == 0 and fake.tokens_sent < 400


async def test_health_reports_model_limit_and_latency(fake, server):
    engine = engine_for(server.url)
    up = await engine.health()
    fake.health_status = 503
    down = await engine.health()
    await engine.close()
    assert up.ok and fake.model_id in up.detail and "max_input_tokens 4095" in up.detail
    assert server.url in up.detail and " ms)" in up.detail
    assert not down.ok and "unhealthy" in down.detail


def test_describe():
    engine = engine_for("http://tgi1:8080")
    assert str(engine.describe(MODEL)) == "tgi http://tgi1:8080 (model per /info)"
    assert engine.prompt_format(MODEL) is None


async def test_finished_streams_return_their_connection_to_the_pool(fake, server):
    engine = engine_for(server.url)
    for _ in range(3):
        await collect(engine, req())
    await engine.close()
    assert len(fake.peers) == 3 and len(set(fake.peers)) == 1


async def test_describe_names_the_model_once_info_was_read(fake, server):
    engine = engine_for(server.url)
    await engine.health()
    await engine.close()
    assert str(engine.describe(MODEL)) == f"tgi {server.url} ({fake.model_id})"


async def test_bad_input_surfaces_on_iteration_not_on_the_call():
    engine = engine_for("http://tgi1:8080")
    stream = engine.generate(req(max_tokens=0))
    with pytest.raises(AiError) as info:
        await anext(stream)
    await engine.close()
    assert info.value.code == 5006


async def test_replicas_fail_over_from_a_dead_tgi(fake, server):
    dead = f"http://127.0.0.1:{free_port()}"
    engine = engine_for(dead, server.url)
    engine.replicas.replicas[1].in_flight = 1  # so the dead one is tried first
    text, _ = await collect(engine, req())
    engine.replicas.replicas[1].in_flight = 0
    health = await engine.health()
    await engine.close()
    assert text == fake.reply
    assert engine.replicas.replicas[0].failures >= 1
    assert (
        health.ok
        and "1/2 replicas up" in health.detail
        and "text-generation-launcher" in health.detail
    )


# -- the served model's own template: the Messages API -------------------------------------
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
          "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\\n' }}{% endif %}")


def chat_req(messages, prompt: str = "", **fields) -> GenerationRequest:
    return GenerationRequest(model=MODEL, prompt=prompt, messages=messages, chat=True,
                             stream=True, **fields)


async def test_a_chat_request_goes_to_the_messages_api(fake, server):
    fake.chat_template = CHATML
    engine = engine_for(server.url)
    messages = [{"role": "user", "content": "Hi"}]
    text, usage = await collect(engine, chat_req(messages, max_tokens=3, temperature=0,
                                                 top_k=5, repetition_penalty=1.2, seed=7))
    await engine.close()
    sent = fake.requests[0]
    assert sent["messages"] == messages and sent["model"] == "tgi"
    # greedy is temperature 0 on TGI's chat; top_k and repetition_penalty have no field there
    assert {k: sent.get(k) for k in ("max_tokens", "temperature", "seed")} == {
        "max_tokens": 3, "temperature": 0.0, "seed": 7}
    assert "top_k" not in sent and "repetition_penalty" not in sent
    assert fake.rendered == ["<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"]
    assert text == "".join(fake.plan({"max_new_tokens": 3})[0])
    assert usage == Usage(prompt_tokens=len(fake.rendered[0].split()) + 1, completion_tokens=3)


async def test_a_model_without_a_template_falls_back_to_generate_stream(fake, server):
    engine = engine_for(server.url)  # fake.chat_template is None: 422 template_error
    messages = [{"role": "user", "content": "Hi"}]
    text, _ = await collect(engine, chat_req(messages, prompt="[INST] Hi [/INST]"))
    await collect(engine, chat_req(messages, prompt="[INST] Hi [/INST]"))
    await engine.close()
    assert text == fake.reply
    assert ["messages" in r for r in fake.requests] == [True, False, False]
    assert fake.requests[1]["inputs"] == "[INST] Hi [/INST]"


async def test_lora_and_a_continued_reply_stay_on_the_native_api(fake, server):
    fake.chat_template = CHATML
    engine = engine_for(server.url)
    prefix = [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "One,"}]
    await collect(engine, chat_req(prefix, prompt="<|im_start|>assistant\nOne,"))
    await collect(engine, chat_req(prefix[:1], prompt="p", lora="my-adapter"))
    await engine.close()
    assert [r.get("inputs") for r in fake.requests] == ["<|im_start|>assistant\nOne,", "p"]
    assert fake.requests[1]["parameters"]["adapter_id"] == "my-adapter"
