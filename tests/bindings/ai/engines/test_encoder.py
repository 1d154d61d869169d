"""The encoder engine: the default for embeddings models, labelled stand-in, lazy."""

from __future__ import annotations

import pytest

from bindings.ai.catalogue import load_catalogue
from bindings.ai.engines.encoder import EncoderEngine
from bindings.ai.errors import AiError
from bindings.ai.routing import RouteError, RouteLayer, RouteTable, parse_route, parse_routes
from bindings.ai.service import AiService
from bindings.ai.tasks.text_embeddings import EmbeddingRequest

BGE = "@cf/baai/bge-base-en-v1.5"
FP16 = "@cf/meta/llama-2-7b-chat-fp16"


def test_embeddings_models_default_to_the_encoder_other_routes_win():
    service = AiService(load_catalogue(), RouteTable())
    assert service.route_for(BGE).engine == "encoder"
    assert service.route_for(FP16).engine == "llamacpp"
    assert service.routes.source_of(service.route_for(BGE)) == "default"
    routed = AiService(load_catalogue(), RouteTable(
        [RouteLayer("--ai-route", tuple(parse_routes("*=scripted")))]))
    assert routed.route_for(BGE).engine == "scripted"  # a route naming '*' is the user's


async def test_banner_and_health_say_stand_in_without_loading_the_weights():
    service = AiService(load_catalogue(), RouteTable())
    row = next(r for r in service.describe() if r.model == BGE)
    assert str(row) == (f"{BGE} → encoder: all-MiniLM-L6-v2 (stand-in), 384-d, "
                        "projected to each model's dimension")
    engine = service.engine_for(service.route_for(BGE))
    health = await engine.health()
    assert health.ok and "stand-in weights in" in health.detail
    assert engine._encoder is None  # edge dev's start does not pay for loading them


async def test_a_folder_that_is_not_a_model_is_a_clear_error(tmp_path):
    engine = EncoderEngine(parse_route(f"*=encoder:path={tmp_path}"))
    assert not engine.stand_in and engine.describe(BGE).model == tmp_path.name
    health = await engine.health()
    assert not health.ok and "lacks config.json, model.safetensors, tokenizer.json" in \
        health.detail
    request = EmbeddingRequest(BGE, "text-embeddings", texts=["a"])
    with pytest.raises(AiError, match="3043: encoder engine: cannot load weights") as caught:
        await engine.infer(request)
    assert caught.value.code == 3043


def test_route_options_are_checked():
    with pytest.raises(RouteError, match="option batch must be an integer >= 1"):
        parse_route("*=encoder:batch=0")
    assert parse_route("*=encoder:batch=8").options == {"batch": 8}
