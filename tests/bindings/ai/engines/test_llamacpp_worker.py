"""Continuous batching in the llama.cpp engine: sequences together, alone-identical,
leaving and joining the batch, prompts in chunks between decode steps (marked `llama`)."""

import asyncio
import math

import pytest

from bindings.ai.engines.base import GenerationRequest, Usage
from bindings.ai.engines.llamacpp import LlamaCppEngine
from bindings.ai.engines.llamacpp_worker import PROMPT_CHUNK

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"
pytestmark = pytest.mark.llama


@pytest.fixture(scope="module")
def engine():
    eng = LlamaCppEngine(n_ctx=1024)  # parallel=4 (the default for this model)
    yield eng
    asyncio.run(eng.close())


def request(engine, text, **fields):
    prompt = engine.prompt_format(MODEL).render([{"role": "user", "content": text}])
    fields.setdefault("max_tokens", 12)
    return GenerationRequest(model=MODEL, prompt=prompt, **fields)


async def run(engine, req):
    items = [item async for item in engine.generate(req)]
    assert isinstance(items[-1], Usage)
    return "".join(items[:-1]), items[-1]


def cache_matches_bookkeeping(engine):
    """Per slot: what the loop thinks the cache holds is what llama.cpp's memory holds."""
    worker, runtime = engine._worker, engine._runtime
    return all(runtime.cached(slot.seq) == len(slot.cached) for slot in worker.slots)


async def test_sequences_decoded_together_give_what_each_gives_alone(engine):
    assert engine.parallel == 4
    reqs = [
        request(engine, "Name three colours.", temperature=0),
        request(engine, "Write one sentence about the sea.", temperature=1.0, seed=42),
        request(engine, "What is the capital of France?", temperature=0, max_tokens=20),
        request(engine, "List the days of the week.", temperature=0.7, seed=7, top_k=5),
        request(engine, "Say hello in French.", temperature=0),  # beyond N: waits for a slot
    ]
    alone = [await run(engine, req) for req in reqs]
    # Per-sequence stop strings: cut one of them at a word of its own text.
    words = alone[2][0].split()
    assert len(words) > 3
    reqs[2].stop = [words[2]]
    together = await asyncio.gather(*(run(engine, req) for req in reqs))
    assert [t for t, _ in together] == [
        *(t for t, _ in alone[:2]), alone[2][0][: alone[2][0].index(words[2])],
        *(t for t, _ in alone[3:]),
    ]
    assert [u.prompt_tokens for _, u in together] == [u.prompt_tokens for _, u in alone]
    assert cache_matches_bookkeeping(engine)


async def test_a_cancelled_sequence_frees_its_slot_and_cache():
    eng = LlamaCppEngine(parallel=2, n_ctx=512)
    try:
        def long(topic):
            return request(eng, f"Tell me a very long story about {topic}.", max_tokens=400,
                           temperature=0.8, seed=5)

        a, b = eng.generate(long("a dragon")), eng.generate(long("the sea"))
        assert isinstance(await anext(a), str) and isinstance(await anext(b), str)
        c_req = request(eng, "Name three colours.", temperature=0, max_tokens=8)
        c = eng.generate(c_req)
        c_first = asyncio.ensure_future(anext(c))
        for _ in range(3):
            await anext(b)  # steps go on; both slots are taken, so c waits
        assert not c_first.done()
        await a.aclose()  # a leaves the batch ...
        c_items = [await c_first] + [item async for item in c]  # ... c runs in its slot
        assert isinstance(await anext(b), str)  # while b still generates
        # A cancelled sequence's generated cells leave the cache; its prompt stays for
        # reuse. c took a's slot (the only free one) and cut a's text down to what they share.
        await b.aclose()
        b_tokens = await eng.prompt_tokens(long("the sea").prompt)
        c_tokens = await eng.prompt_tokens(c_req.prompt)
        cached = sorted((slot.cached for slot in eng._worker.slots), key=len)
        assert b_tokens in cached
        assert any(held[: len(c_tokens)] == c_tokens for held in cached)
        assert cache_matches_bookkeeping(eng)
        # c, decoded in a slot that held someone else's text, reads as it does alone.
        assert "".join(c_items[:-1]) == (await run(eng, c_req))[0]
    finally:
        await eng.close()


async def test_a_long_prompt_does_not_stall_the_others_streams(engine):
    a = engine.generate(request(engine, "Count from 1 to 300, separated by commas.",
                                max_tokens=300, temperature=0))
    assert isinstance(await anext(a), str)  # a is generating
    events: list[str] = []

    async def follow_a():
        async for item in a:
            events.append("usage" if isinstance(item, Usage) else "a")

    follower = asyncio.ensure_future(follow_a())
    long = request(engine, " ".join(f"Item {i} is a small red box." for i in range(40)),
                   max_tokens=1, temperature=0)
    n_prompt = len(await engine.prompt_tokens(long.prompt))
    assert n_prompt > 4 * PROMPT_CHUNK
    mark = len(events)
    long_stream = engine.generate(long)
    first = await anext(long_stream)
    during = events[mark:]
    follower.cancel()  # a's caller leaves
    await asyncio.gather(follower, return_exceptions=True)
    await long_stream.aclose()
    assert isinstance(first, str | Usage)
    # a got a token in every step but at most one while the long prompt went in, chunk by
    # chunk, and was still running when that prompt produced its first token.
    assert "usage" not in during
    assert during.count("a") >= math.ceil(n_prompt / PROMPT_CHUNK) - 1


async def test_the_same_prompt_again_samples_from_kept_logits_without_decoding(engine):
    req = request(engine, "Why is the sky blue?", temperature=0.9, seed=11, max_tokens=1)
    first = await run(engine, req)
    runtime, decodes = engine._runtime, []
    original = runtime.decode
    runtime.decode = lambda: decodes.append(1) or original()
    try:
        again = await run(engine, req)
    finally:
        del runtime.decode
    assert again == first and decodes == []  # one token, straight from the kept logits
    longer = await run(engine, request(engine, "Why is the sky blue?", temperature=0.9,
                                       seed=11, max_tokens=6))
    assert longer[0].startswith(first[0])
