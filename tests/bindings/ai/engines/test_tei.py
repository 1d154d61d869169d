"""The TEI engine against a protocol-faithful fake TEI served by real uvicorn on loopback."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bindings.ai.catalogue import load_catalogue
from bindings.ai.engines.http_backend import post_json
from bindings.ai.engines.tei import TeiEngine, create
from bindings.ai.errors import AiError
from bindings.ai.routing import Route, RouteLayer, RouteTable, parse_routes
from bindings.ai.service import AiService
from bindings.ai.tasks.text_embeddings import EmbeddingRequest
from tests.fakes.fake_tei import FakeTei
from tests.fakes.loopback import free_port, serve

BGE = "@cf/baai/bge-base-en-v1.5"
OMNI = "@cf/baai/omni-bge-base-en-v1.5"


@pytest.fixture
def fake():
    return FakeTei()


@pytest.fixture
def server(fake):
    with serve(fake.app()) as srv:
        yield srv


def engine_for(*urls: str, **options) -> TeiEngine:
    return create(Route(BGE, "tei", urls=urls, options=options))


def req(*texts: str, pooling: str | None = None) -> EmbeddingRequest:
    return EmbeddingRequest(BGE, "text-embeddings", texts=list(texts), pooling=pooling)


async def test_embeds_through_embed_with_truncation_and_token_usage(fake, server):
    engine = engine_for(server.url)
    try:
        answer = await engine.infer(req("the cat sat", "a dog ran far"))
    finally:
        await engine.close()
    assert np.array(answer.vectors).shape == (2, 768)
    assert answer.tokens == 5 + 6 and answer.pooling == "cls" and not answer.stand_in
    assert fake.requests == [{"inputs": ["the cat sat", "a dog ran far"], "normalize": True,
                              "truncate": True}]


async def test_batches_over_the_servers_limit_are_split(fake, server):
    fake.max_client_batch_size = 4
    engine = engine_for(server.url)
    try:
        answer = await engine.infer(req(*[f"text {i}" for i in range(10)]))
    finally:
        await engine.close()
    assert len(answer.vectors) == 10
    assert sorted(len(r["inputs"]) for r in fake.requests) == [2, 4, 4]
    # and the fake itself refuses what TEI refuses
    engine = engine_for(server.url)
    with pytest.raises(AiError, match=r"batch size 5 > maximum allowed batch size 4") as caught:
        await post_json(engine._client, f"{server.url}/embed", {"inputs": ["x"] * 5},
                        backend="tei", hint="")
    assert caught.value.code == 3010
    await engine.close()


@pytest.mark.parametrize(("failure", "code"), [
    ((429, "Model is overloaded", "Overloaded"), 3040),
    ((422, "Input validation error: bad input", "Tokenizer"), 3010),
    ((424, "backend failed", "Backend"), 3043),
])
async def test_tei_errors_map_to_cloudflare_codes(fake, server, failure, code):
    fake.fail_with = failure
    engine = engine_for(server.url)
    with pytest.raises(AiError) as caught:
        await engine.infer(req("hi"))
    await engine.close()
    assert caught.value.code == code and failure[1] in str(caught.value)
    assert server.url in str(caught.value)


async def test_another_pooling_than_the_servers_is_5006(server):
    engine = engine_for(server.url)
    with pytest.raises(AiError, match=r"with cls pooling .* pooling 'mean' is not available"):
        await engine.infer(req("hi", pooling="mean"))
    assert (await engine.infer(req("hi", pooling="cls"))).pooling == "cls"
    await engine.close()


async def test_health_names_the_model_and_refuses_a_wrong_one(fake, server):
    engine = engine_for(server.url)
    health = await engine.health()
    assert health.ok and "serving BAAI/bge-base-en-v1.5 (cls pooling)" in health.detail
    assert str(engine.describe(BGE)) == f"tei {server.url} (BAAI/bge-base-en-v1.5)"
    await engine.close()
    wrong = create(Route(BGE, "tei", urls=(server.url,), served_model="BAAI/bge-m3"))
    assert "serves BAAI/bge-base-en-v1.5, not BAAI/bge-m3" in (await wrong.health()).detail
    await wrong.close()
    fake.healthy = False
    assert not (await engine_for(server.url).health()).ok


async def test_a_dead_server_says_how_to_start_tei():
    url = f"http://127.0.0.1:{free_port()}"
    port = url.rsplit(":", 1)[1]
    engine = create(Route(BGE, "tei", urls=(url,)))
    with pytest.raises(AiError, match=re.escape(f"start it with: edge ai serve {BGE} "
                                                f"--engine tei --port {port}")) as caught:
        await engine.infer(req("hi"))
    assert caught.value.code == 3043
    anyone = create(Route("*", "tei", urls=(url,)))
    with pytest.raises(AiError, match=r"text-embeddings-router --model-id BAAI/bge-base-en-v1\.5"):
        await anyone.infer(req("hi"))


async def test_api_key_from_the_environment(fake, server, monkeypatch):
    fake.api_key = "sekret"
    monkeypatch.setenv("TEI_KEY", "sekret")
    engine = engine_for(server.url, api_key_env="TEI_KEY")
    assert len((await engine.infer(req("hi"))).vectors) == 1
    await engine.close()


async def test_env_ai_run_through_a_tei_route(fake, server):
    routes = parse_routes(f"@cf/baai/*=tei:{server.url}")
    service = AiService(load_catalogue(), RouteTable([RouteLayer("cli", tuple(routes))]))
    try:
        result = await service.run(BGE, {"text": ["the cat sat", "the cat sat down", "stocks"]})
        vectors = np.array(result["data"])
        assert result["shape"] == [3, 768]  # the server's vectors, as they are
        assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
        with pytest.raises(AiError, match=r"5006: .*cls pooling"):
            await service.run(OMNI, {"text": "a", "pooling": "mean"})
        ranked = await service.run("@cf/baai/bge-m3", {
            "query": "the cat", "contexts": [{"text": "stocks fell"}, {"text": "the cat sat"}]})
        assert ranked["response"][0]["id"] == 1
    finally:
        await service.close()
