"""The embedded llama.cpp engine, with the bundled SmolLM2 GGUF (tests marked `llama`).

One engine (one loaded model, one worker thread) is shared by the whole module; tests
that need other settings (tiny context, tiny queue, close) build their own.
"""

import asyncio
import json
import re
import struct
from pathlib import Path

import httpx
import pytest

from bindings.ai.engines import create_engine
from bindings.ai.engines.base import GenerationRequest, Usage
from bindings.ai.engines.gguf import GgufError, GgufInfo, bundled_gguf, read_metadata
from bindings.ai.engines.llamacpp import DEFAULT_TEMPERATURE, LlamaCppEngine, create, sampling
from bindings.ai.errors import AiError
from bindings.ai.routing import Route, RouteError, parse_route
from tests.support.edge_dev import EdgeDev

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"
llama = pytest.mark.llama


@pytest.fixture(scope="module")
def engine():
    eng = LlamaCppEngine()
    yield eng
    asyncio.run(eng.close())


@pytest.fixture(scope="module")
def vocab():
    """An independent tokenizer for the same GGUF (vocab only: no weights, no context)."""
    from llama_cpp import Llama

    tok = Llama(model_path=str(bundled_gguf()), vocab_only=True, verbose=False)
    yield tok
    tok.close()


def chat(engine, text):
    return engine.prompt_format(MODEL).render([{"role": "user", "content": text}])


def request(prompt, **fields):
    fields.setdefault("max_tokens", 16)
    return GenerationRequest(model=MODEL, prompt=prompt, **fields)


async def run(engine, req):
    items = [item async for item in engine.generate(req)]
    assert isinstance(items[-1], Usage)
    assert all(isinstance(item, str) and item for item in items[:-1])
    return items[:-1], items[-1]


async def within(seconds, awaitable):
    """Its result, or a failure after `seconds` (not awaiting a cancellation the engine
    might take minutes to honour)."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        pytest.fail(f"no answer within {seconds} s")
    return task.result()


async def text_of(engine, req):
    chunks, _ = await run(engine, req)
    return "".join(chunks)


def write_gguf(path: Path, kvs: dict) -> Path:
    """A header-only GGUF v3 file (no tensors): enough for the metadata reader."""

    def s(text):
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs))
    for key, value in kvs.items():
        out += s(key)
        if isinstance(value, str):
            out += struct.pack("<I", 8) + s(value)
        elif isinstance(value, list):
            out += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(s(v) for v in value)
        else:
            out += struct.pack("<II", 4, value)
    path.write_bytes(out)
    return path


LLAMA2_HEADER = {
    "general.architecture": "llama",
    "general.name": "LLaMA v2",
    "llama.context_length": 4096,
    "tokenizer.ggml.tokens": ["<unk>", "<s>", "</s>", "▁Hello"],
    "tokenizer.ggml.bos_token_id": 1,
    "tokenizer.ggml.eos_token_id": 2,
}


# --- without generation: labels, files, templates, parameter mapping ----------------------


def test_stand_in_says_so_and_a_user_gguf_is_named_by_its_file(tmp_path):
    label = create(Route(model=MODEL, engine="llamacpp")).describe(MODEL)
    assert str(label) == "llama.cpp: SmolLM2-135M-Instruct (stand-in), parallel=4, n_ctx=4096"
    assert (label.model, label.stand_in) == ("SmolLM2-135M-Instruct", True)  # data, not text
    assert label.settings == "parallel=4, n_ctx=4096"
    own = write_gguf(tmp_path / "llama-2-13b-chat.Q4_K_M.gguf", LLAMA2_HEADER)
    engine = create_engine(Route(model=MODEL, engine="llamacpp", gguf=own))
    assert str(engine.describe(MODEL)) == (
        "llama.cpp: llama-2-13b-chat.Q4_K_M.gguf, parallel=1, n_ctx=4096"
    )


def test_parallel_defaults_to_what_the_kv_cache_budget_allows(tmp_path):
    assert LlamaCppEngine().parallel == 4  # SmolLM2: 4 x 4096 tokens x 23 KB = 377 MB
    assert LlamaCppEngine(parallel=2).parallel == 2
    assert LlamaCppEngine(n_ctx=256).parallel == 4
    seven_b = {**LLAMA2_HEADER, "llama.block_count": 32, "llama.embedding_length": 4096,
               "llama.attention.head_count": 32}
    path = write_gguf(tmp_path / "llama-2-7b-chat.Q4_K_M.gguf", seven_b)
    assert GgufInfo.from_file(path).kv_bytes_per_token == 32 * 32 * 256 * 2  # 512 KiB
    assert LlamaCppEngine(path).parallel == 1  # one 4096-token sequence is 2 GiB already
    assert LlamaCppEngine(path, n_ctx=128).parallel == 4
    unknown = write_gguf(tmp_path / "mystery.gguf", LLAMA2_HEADER)  # no sizes in the header
    assert LlamaCppEngine(unknown).parallel == 1


def test_a_missing_or_foreign_file_is_a_clear_error_naming_the_path(tmp_path):
    missing = tmp_path / "nope" / "model.gguf"
    with pytest.raises(GgufError, match=f"GGUF file not found: {missing}"):
        create(Route(model=MODEL, engine="llamacpp", gguf=missing))
    foreign = tmp_path / "model.bin"
    foreign.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(GgufError, match=r"not a GGUF file: .*model\.bin"):
        create(Route(model=MODEL, engine="llamacpp", gguf=foreign))
    damaged = tmp_path / "cut.gguf"
    damaged.write_bytes(write_gguf(tmp_path / "x.gguf", LLAMA2_HEADER).read_bytes()[:40])
    with pytest.raises(GgufError, match="damaged GGUF header"):
        read_metadata(damaged)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ("n_ctx=big", "option n_ctx must be an integer >= 1, not 'big'"),
        ("n_ctx=0", "option n_ctx must be an integer >= 1, not '0'"),
        ("n_ctx", "option n_ctx needs a value"),
        ("parallel=0", "option parallel must be an integer >= 1, not '0'"),
        ("nctx=5", "llamacpp has no option 'nctx' (llamacpp accepts: max_queue"),
    ],
)
def test_bad_route_options_are_rejected_when_the_route_is_parsed(args, problem):
    with pytest.raises(RouteError) as info:
        parse_route(f"{MODEL}=llamacpp:{args}")
    assert problem in str(info.value) and f"{MODEL}=llamacpp:{args}" in str(info.value)


def test_route_options_reach_the_engine_converted():
    engine = create(parse_route(f"{MODEL}=llamacpp:n_ctx=256,parallel=2"))
    assert (engine.n_ctx, engine.parallel) == (256, 2)
    with pytest.raises(ValueError, match="parallel=8 needs n_batch >= 8"):
        create(parse_route(f"{MODEL}=llamacpp:parallel=8,n_batch=4"))


def test_stand_in_metadata_and_template_are_its_own_chatml():
    info = GgufInfo.from_file(bundled_gguf())
    assert (info.bos_token, info.eos_token) == ("<|im_start|>", "<|im_end|>")
    assert info.context_length == 8192
    engine = LlamaCppEngine()
    assert engine.n_ctx == 4096  # training context 8192, capped
    prompt = chat(engine, "Hi")
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert "[INST]" not in prompt


def test_a_gguf_without_template_leaves_the_format_to_the_catalogue(tmp_path):
    path = write_gguf(tmp_path / "llama-2-7b-chat.Q4_K_M.gguf", LLAMA2_HEADER)
    info = GgufInfo.from_file(path)
    assert (info.bos_token, info.eos_token, info.context_length) == ("<s>", "</s>", 4096)
    assert info.chat_template is None
    assert LlamaCppEngine(path).prompt_format(MODEL) is None


def test_sampling_maps_cloudflare_parameters_onto_llama_cpp():
    defaults = sampling(request("x"))
    assert defaults["temp"] == DEFAULT_TEMPERATURE
    assert (defaults["repeat_penalty"], defaults["frequency_penalty"]) == (1.0, 0.0)
    given = sampling(request("x", temperature=0, top_p=1.7, top_k=5, repetition_penalty=1.3,
                             frequency_penalty=0.5, presence_penalty=0.25))
    assert given["temp"] == 0 and given["top_p"] == 1.0 and given["top_k"] == 5
    assert (given["repeat_penalty"], given["frequency_penalty"], given["presence_penalty"]) == (
        1.3, 0.5, 0.25,
    )
    assert sampling(request("x", repetition_penalty=0))["repeat_penalty"] == 1.0


async def test_lora_is_unsupported_like_cloudflare():
    with pytest.raises(AiError) as err:
        await run(LlamaCppEngine(), request("x", lora="my-adapter"))
    assert err.value.code == 5005


# --- with the model ------------------------------------------------------------------------


@llama
async def test_generates_text_and_counts_usage_with_the_models_tokenizer(engine, vocab):
    prompt = chat(engine, "What is the capital of France?")
    before = engine.tokens_generated
    chunks, usage = await run(engine, request(prompt, max_tokens=12, temperature=0))
    assert "".join(chunks).strip()
    assert len(chunks) > 1  # streamed token by token, not in one piece
    expected_prompt = vocab.tokenize(prompt.encode(), add_bos=False, special=True)
    assert usage.prompt_tokens == len(expected_prompt)
    assert usage.completion_tokens == engine.tokens_generated - before
    assert 0 < usage.completion_tokens <= 12


@llama
async def test_max_tokens_bounds_the_completion(engine):
    _, usage = await run(engine, request(chat(engine, "Count to one hundred."), max_tokens=5,
                                         temperature=0))
    assert usage.completion_tokens == 5
    chunks, usage = await run(engine, request(chat(engine, "Hi"), max_tokens=0))
    assert chunks == [] and usage.completion_tokens == 0


@llama
async def test_same_seed_same_text_and_seeds_differ(engine):
    prompt = chat(engine, "Write one sentence about the sea.")
    first = await text_of(engine, request(prompt, seed=42, temperature=1.0, max_tokens=20))
    await text_of(engine, request(chat(engine, "Something else."), max_tokens=5))
    again = await text_of(engine, request(prompt, seed=42, temperature=1.0, max_tokens=20))
    assert first == again
    others = {await text_of(engine, request(prompt, seed=s, temperature=1.0, max_tokens=20))
              for s in (1, 2, 3)}
    assert others - {first}


@llama
async def test_temperature_zero_is_greedy_and_deterministic(engine):
    prompt = chat(engine, "Name three colours.")
    first = await text_of(engine, request(prompt, temperature=0, max_tokens=20))
    await text_of(engine, request(chat(engine, "Unrelated."), max_tokens=5))
    # Greedy ignores the seed entirely.
    assert await text_of(engine, request(prompt, temperature=0, seed=7, max_tokens=20)) == first


@llama
async def test_stop_sequences_cut_the_output_before_the_match(engine):
    prompt = chat(engine, "List the days of the week.")
    full = await text_of(engine, request(prompt, temperature=0, max_tokens=40))
    words = full.split()
    assert len(words) > 4
    stop = words[3]
    cut = await text_of(engine, request(prompt, temperature=0, max_tokens=40, stop=[stop]))
    assert cut == full[: full.index(stop)]


@llama
async def test_multibyte_characters_split_across_tokens_arrive_whole(engine, vocab):
    assert len(vocab.tokenize("🎉".encode(), add_bos=False)) > 1  # the emoji spans tokens
    prompt = chat(engine, "Say 你好世界 and 🎉🎉 three times")
    chunks, _ = await run(engine, request(prompt, temperature=0, max_tokens=40))
    assert not any("\ufffd" in chunk for chunk in chunks)
    assert any(ord(ch) > 0xFFFF for chunk in chunks for ch in chunk)  # 4-byte chars came out
    for chunk in chunks:
        assert chunk.encode("utf-8").decode("utf-8") == chunk


@llama
async def test_a_character_cut_by_max_tokens_is_dropped_not_sent_broken(engine):
    prompt = chat(engine, "Say 你好世界 and 🎉🎉 three times")
    full = await text_of(engine, request(prompt, temperature=0, max_tokens=40))
    assert any(ord(ch) > 0x7F for ch in full)
    previous, absorbed = None, 0
    for budget in range(1, 41):
        text = await text_of(engine, request(prompt, temperature=0, max_tokens=budget))
        assert "\ufffd" not in text and full.startswith(text)
        if text == previous:  # the last token held only part of a character
            absorbed += 1
            break
        previous = text
    assert absorbed  # some budget did end inside a character


@llama
async def test_closing_the_stream_stops_generation_at_the_next_token(engine):
    stream = engine.generate(request(chat(engine, "Tell me a very long story."),
                                     max_tokens=1000, temperature=0.8, seed=3))
    start = engine.tokens_generated
    received = [await anext(stream) for _ in range(3)]
    assert all(isinstance(chunk, str) for chunk in received)
    await stream.aclose()  # returns once the worker has left the token loop
    stopped_at = engine.tokens_generated
    assert stopped_at - start < 50  # far from the 1000 asked for
    await asyncio.sleep(0.3)
    assert engine.tokens_generated == stopped_at
    # The engine serves the next request normally.
    _, usage = await run(engine, request(chat(engine, "Hi"), max_tokens=3, temperature=0))
    assert usage.completion_tokens == 3


@llama
async def test_a_request_cancelled_while_queued_never_runs(engine):
    before = engine.tokens_generated
    running = [asyncio.ensure_future(run(engine, request(
        chat(engine, f"Describe the ocean, part {i}."), max_tokens=30, seed=i, temperature=0.7,
    ))) for i in range(engine.parallel)]  # fmt: skip
    await asyncio.sleep(0)
    queued_stream = engine.generate(request(chat(engine, "Hi"), max_tokens=60))
    queued = asyncio.ensure_future(anext(queued_stream))
    await asyncio.sleep(0.05)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued  # a job that has not started is just withdrawn
    usages = [usage for _, usage in await asyncio.gather(*running)]
    snapshot = engine.tokens_generated
    await asyncio.sleep(0.2)
    assert engine.tokens_generated == snapshot == before + sum(u.completion_tokens for u in usages)


@llama
async def test_requests_beyond_parallel_start_in_fifo_order(engine):
    order: list[int] = []

    async def first_chunk_order(index):
        stream = engine.generate(request(chat(engine, f"Say the number {index}."), max_tokens=6,
                                         temperature=0))
        rest = []
        async for item in stream:
            if not rest:
                order.append(index)
            rest.append(item)
        return rest[-1]

    n = engine.parallel + 2  # two wait for a free slot
    usages = await asyncio.gather(*(first_chunk_order(i) for i in range(n)))
    assert order == list(range(n))  # prompts start in arrival order, beyond N too
    assert all(u.completion_tokens > 0 for u in usages)


@llama
async def test_the_event_loop_stays_free_while_the_model_generates(engine):
    ticks = 0
    done = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.ensure_future(ticker())
    _, usage = await run(engine, request(chat(engine, "Tell me a story."), max_tokens=40,
                                         temperature=0))
    done.set()
    await task
    # Generation runs on the worker thread, so the loop ticks many times per token.
    assert ticks > 2 * usage.completion_tokens


@llama
async def test_a_prompt_longer_than_the_context_is_error_3030(engine):
    prompt = "hello " * 5000
    with pytest.raises(AiError) as err:
        await run(engine, request(prompt))
    assert err.value.code == 3030
    assert err.value.status == 400
    assert "context" in str(err.value) and "4096" in str(err.value)
    _, usage = await run(engine, request(chat(engine, "Hi"), max_tokens=2))
    assert usage.completion_tokens == 2  # the engine is still fine


@llama
async def test_one_greedy_request_decodes_exactly_as_raw_llama_cpp_python(engine):
    from bindings.ai.engines.llama_load import new_llama

    prompt = chat(engine, "Why is the sky blue?")
    raw = new_llama(model_path=str(bundled_gguf()), n_ctx=512, verbose=False)
    try:
        expected = raw.create_completion(prompt, max_tokens=24, temperature=0)["choices"][0]
    finally:
        raw.close()
    assert await text_of(engine, request(prompt, max_tokens=24, temperature=0)) == (
        expected["text"]
    )


@llama
async def test_a_huge_input_is_3030_before_any_exact_work(engine):
    """50,000 tiny messages (1.75 MB): once minutes of tokenizing on the decode thread."""
    turns = [{"role": "user", "content": "hi"} for _ in range(50_000)]
    prompt = engine.prompt_format(MODEL).render(turns)
    short = asyncio.ensure_future(run(engine, request(chat(engine, "Hi"), max_tokens=4)))
    with pytest.raises(AiError) as err:
        await within(5, run(engine, request(prompt)))
    assert err.value.code == 3030 and "at least" in str(err.value)
    # Under the cheap bound (bytes / longest token) but over by count: counted in a thread,
    # and only until it cannot fit.
    fits_the_bound = prompt[: 4096 * 60]
    with pytest.raises(AiError) as err:
        await within(5, run(engine, request(fits_the_bound)))
    assert err.value.code == 3030 and "more than 4095 tokens" in str(err.value)
    _, usage = await within(30, short)  # the engine kept serving meanwhile
    assert usage.completion_tokens > 0


@llama
async def test_abandoned_requests_stop_at_once_and_do_not_delay_the_next(engine):
    """Six 300-token requests whose callers went away (non-streamed: the awaiting task is
    cancelled) leave the batch and the queue at once; a short request then runs."""

    async def collect(req):
        return [item async for item in engine.generate(req)]

    abandoned = [asyncio.ensure_future(collect(request(
        chat(engine, f"Write a long essay about topic {i}."), max_tokens=300, temperature=0.8,
        seed=i,
    ))) for i in range(6)]  # fmt: skip
    start = engine.tokens_generated
    while engine.tokens_generated - start < 8:  # all slots decoding, two requests waiting
        await asyncio.sleep(0.02)
    for task in abandoned:
        task.cancel()
    await asyncio.gather(*abandoned, return_exceptions=True)
    stopped = engine.tokens_generated
    _, usage = await within(10, run(engine, request(chat(engine, "Hi"), max_tokens=3,
                                                    temperature=0)))
    assert usage.completion_tokens == 3
    assert engine.tokens_generated == stopped + 3  # nothing abandoned kept generating
    assert stopped - start < 6 * 300 // 4


@llama
async def test_generation_is_cut_at_the_end_of_a_small_context(vocab):
    small = LlamaCppEngine(n_ctx=64, n_batch=64)
    try:
        prompt = chat(small, "Write a long essay.")
        n_prompt = len(vocab.tokenize(prompt.encode(), add_bos=False, special=True))
        _, usage = await run(small, request(prompt, max_tokens=500, temperature=0.7, seed=2,
                                            repetition_penalty=1.2))
        assert usage.prompt_tokens == n_prompt
        assert usage.prompt_tokens + usage.completion_tokens <= 64
    finally:
        await small.close()


@llama
async def test_lifecycle_lazy_load_health_close_and_reload():
    eng = LlamaCppEngine(max_queue=1, parallel=1, n_ctx=512)
    health = await eng.health()
    assert health.ok and "not loaded" in health.detail and str(eng.path) in health.detail
    assert not eng.loaded
    prompt = chat(eng, "Tell me a long story.")
    running = eng.generate(request(prompt, max_tokens=500))
    assert isinstance(await anext(running), str)
    assert eng.loaded and "loaded, n_ctx=512, parallel=1" in (await eng.health()).detail
    waiting = eng.generate(request(prompt, max_tokens=5))
    waiting_first = asyncio.ensure_future(anext(waiting))
    await asyncio.sleep(0.05)
    with pytest.raises(AiError) as err:  # max_queue=1: one waits, the next is turned away
        await run(eng, request(prompt, max_tokens=5))
    assert err.value.code == 3040
    await eng.close()  # stops the running generation and fails the queued one
    rest = [item async for item in running]
    assert not any(isinstance(item, Usage) and item.completion_tokens >= 500 for item in rest)
    with pytest.raises(AiError):
        await waiting_first
    assert not eng.loaded
    _, usage = await run(eng, request(chat(eng, "Hi"), max_tokens=2))  # loads again on use
    assert usage.completion_tokens == 2
    await eng.close()


@llama
async def test_weights_that_do_not_load_are_an_ai_error_and_unhealthy(tmp_path):
    broken = LlamaCppEngine(write_gguf(tmp_path / "llama-2-7b-chat.Q4_K_M.gguf", LLAMA2_HEADER))
    try:
        with pytest.raises(AiError) as err:
            await run(broken, request("Hello"))
        assert err.value.code == 3043 and "could not load" in str(err.value)
        assert str(broken.path) in str(err.value)
        health = await broken.health()
        assert not health.ok and "could not load" in health.detail
    finally:
        await broken.close()


# --- end to end: `edge dev` on the chat example, no configuration ------------------------

CHAT_EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "workers" / "chat"


@llama
@pytest.mark.e2e
def test_edge_dev_answers_the_chat_example_with_the_stand_in():
    server = EdgeDev(str(CHAT_EXAMPLE), "--no-reload").start()
    base = server.url
    try:
        with httpx.Client(timeout=120) as client:
            messages = [{"role": "user", "content": "Say hello."}]
            reply = client.post(f"{base}/", json={"messages": messages, "max_tokens": 8})
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["response"].strip()
            assert 0 < body["usage"]["completion_tokens"] <= 8
            with client.stream("POST", f"{base}/stream",
                               json={"messages": messages, "max_tokens": 8}) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        frames = [json.loads(line[6:]) for line in lines[:-1]]
        assert sum(1 for f in frames if f.get("response")) > 1  # token by token
        assert frames[-1]["usage"]["completion_tokens"] <= 8
    finally:
        server.stop()
    log = server.output()
    assert re.search(r"\d+ models → llama\.cpp: SmolLM2-135M-Instruct \(stand-in\)", log)
    assert "llama.cpp: loading SmolLM2-135M-Instruct (stand-in)" in log


@llama
@pytest.mark.parametrize("model", [
    "@cf/meta/llama-3.1-8b-instruct", "@cf/qwen/qwen1.5-7b-chat-awq", "@hf/google/gemma-7b-it",
    "@cf/mistral/mistral-7b-instruct-v0.1", "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b",
    "@cf/zai-org/glm-4.7-flash",  # a model edge has no serving data for
])
async def test_catalogue_models_run_on_the_stand_in_with_its_own_template(engine, model):
    """Every text-generation record runs on the stand-in by default: the prompt is the
    stand-in's ChatML (its GGUF's template), never the catalogue model's family format."""
    from bindings.ai.catalogue import load_catalogue
    from bindings.ai.routing import RouteTable
    from bindings.ai.service import AiService

    service = AiService(load_catalogue(), RouteTable(default=None))
    service.set_engine("*", engine)
    messages = [{"role": "user", "content": "Say hi"}]
    result = await service.run(model, {"messages": messages, "max_tokens": 4, "temperature": 0})
    # glm-4.7-flash's published output is an OpenAI chat completion, so it answers one
    text = (result["choices"][0]["message"]["content"] if "choices" in result
            else result["response"])
    assert text.strip() and 0 < result["usage"]["completion_tokens"] <= 4
    label = str(next(row for row in service.describe() if row.model == model))
    assert "→ llama.cpp: SmolLM2-135M-Instruct (stand-in)" in label
