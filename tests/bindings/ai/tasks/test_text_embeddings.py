"""Text Embeddings end to end: every catalogue embeddings model on the CPU stand-in."""

from __future__ import annotations

import jsonschema
import numpy as np
import pytest

from bindings.ai.catalogue import load_catalogue
from bindings.ai.engines.bert_encoder import bundled_path
from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.errors import AiError
from bindings.ai.routing import RouteLayer, RouteTable, parse_routes
from bindings.ai.service import AiService
from bindings.ai.tasks.text_embeddings import QWEN3_QUERY, dimension, fit_dimension

CATALOGUE = load_catalogue()
MODELS = [e.name for e in CATALOGUE.entries() if e.task_name == "Text Embeddings"]
M3, QWEN = "@cf/baai/bge-m3", "@cf/qwen/qwen3-embedding-0.6b"
OMNI = "@cf/baai/omni-bge-base-en-v1.5"
SIMILAR = ("The weather is lovely today.", "It's so sunny outside!")
UNRELATED = "He drove to the stadium."


@pytest.fixture(scope="module")
def service():
    try:
        bundled_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return AiService(CATALOGUE, RouteTable())  # the default routes: encoder for embeddings


def validate_output(result, schema: dict) -> None:
    """jsonschema validation of an output; omni-bge's published `oneOf` has an async branch
    that requires nothing (every object matches it too), so there one branch must match."""
    if "oneOf" in schema and any("required" not in branch for branch in schema["oneOf"]):
        schema = {**{k: v for k, v in schema.items() if k != "oneOf"}, "anyOf": schema["oneOf"]}
    jsonschema.validate(result, schema)


def inputs_for(model: str, texts: list[str]) -> dict:
    if model == M3:
        return {"contexts": [{"text": t} for t in texts]}
    if model == QWEN:
        return {"documents": texts}
    return {"text": texts}


def vectors_of(model: str, result) -> np.ndarray:
    return np.array(result["response"] if model == M3 else result["data"])


def test_the_catalogue_has_the_embeddings_models():
    assert len(MODELS) == 8 and "@cf/baai/bge-base-en-v1.5" in MODELS


@pytest.mark.parametrize("model", MODELS)
async def test_each_model_embeds_similar_texts_closer_than_unrelated(service, model):
    entry = CATALOGUE.get(model)
    result = await service.run(model, inputs_for(model, [*SIMILAR, UNRELATED]))
    validate_output(result.to_py(), entry.output_schema)
    vectors = vectors_of(model, result)
    assert vectors.shape == (3, dimension(entry))
    if model != M3:
        assert result["shape"] == [3, dimension(entry)]
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.5 > 0.2 > similarity[0, 2]
    assert similarity[0, 1] > similarity[1, 2]
    assert result.tokens > 6  # usage for the OpenAI endpoint; not in the JSON
    assert "tokens" not in result


async def test_dimensions_are_each_models_own(service):
    dims = {m: dimension(CATALOGUE.get(m)) for m in MODELS}
    assert dims["@cf/baai/bge-small-en-v1.5"] == 384
    assert dims["@cf/baai/bge-large-en-v1.5"] == 1024
    assert dims[M3] == 1024 and dims["@cf/pfnet/plamo-embedding-1b"] == 2048
    assert dims["@cf/google/embeddinggemma-300m"] == 768


async def test_a_single_string_is_a_batch_of_one(service):
    model = "@cf/baai/bge-small-en-v1.5"
    one = await service.run(model, {"text": SIMILAR[0]})
    batch = await service.run(model, {"text": [SIMILAR[0], UNRELATED]})
    assert one["shape"] == [1, 384]
    assert np.allclose(one["data"][0], batch["data"][0], atol=1e-5)


async def test_omni_bge_says_its_pooling(service):
    mean = await service.run(OMNI, {"text": "a cat"})
    cls = await service.run(OMNI, {"text": "a cat", "pooling": "cls"})
    assert (mean["pooling"], cls["pooling"]) == ("mean", "cls")
    assert not np.allclose(mean["data"], cls["data"])
    validate_output(cls.to_py(), CATALOGUE.get(OMNI).output_schema)


async def test_bge_m3_ranks_contexts_against_a_query(service):
    contexts = [{"text": UNRELATED}, {"text": SIMILAR[1]}]
    result = await service.run(M3, {"query": SIMILAR[0], "contexts": contexts})
    validate_output(result.to_py(), CATALOGUE.get(M3).output_schema)
    assert [r["id"] for r in result["response"]] == [1, 0]
    assert result["response"][0]["score"] > result["response"][1]["score"]


async def test_qwen3_queries_carry_their_instruction():
    engine = ScriptedEngine()
    service = AiService(CATALOGUE, RouteTable(default=None))
    service.set_engine("*", engine)
    result = await service.run(QWEN, {"queries": ["cats?"], "text": ["doc"]})
    instruction = CATALOGUE.get(QWEN).input_default("instruction")
    assert engine.requests[0].texts == [
        QWEN3_QUERY.format(instruction=instruction, query="cats?"), "doc"]
    assert result["shape"] == [2, 1024]
    await service.run(QWEN, {"queries": "q", "instruction": "Find code"})
    assert engine.requests[1].texts == ["Instruct: Find code\nQuery:q"]


@pytest.mark.parametrize(("model", "inputs", "says"), [
    ("@cf/baai/bge-small-en-v1.5", {}, "text"),
    ("@cf/baai/bge-small-en-v1.5", {"text": ""}, ""),
    ("@cf/baai/bge-small-en-v1.5", {"text": ["ok"] * 101}, ""),
    ("@cf/baai/bge-base-en-v1.5", {"text": 42}, ""),
    (OMNI, {"text": "a", "pooling": "max"}, ""),
    (M3, {"query": "q"}, "contexts"),
    (M3, {"contexts": [{"text": ""}]}, ""),
    (QWEN, {"queries": ["a"] * 33}, ""),
])
async def test_schema_violations_are_5006_and_never_reach_an_engine(model, inputs, says):
    engine = ScriptedEngine()
    service = AiService(CATALOGUE, RouteTable(default=None))
    service.set_engine("*", engine)
    with pytest.raises(AiError) as caught:
        await service.run(model, inputs)
    assert caught.value.code == 5006 and says in str(caught.value)
    assert engine.requests == []


@pytest.mark.parametrize(("model", "inputs", "says"), [
    (QWEN, {}, "nothing to embed"),
    (QWEN, {"documents": "a", "text": "b"}, "alias of 'documents'"),
    (M3, {"contexts": [{"title": "no text"}]}, r"contexts\[0\] needs a 'text'"),
    (OMNI, {"requests": [{"text": "a"}]}, "async batch form"),
])
async def test_inputs_the_schema_lets_through_but_mean_nothing_are_5006(model, inputs, says):
    engine = ScriptedEngine()
    service = AiService(CATALOGUE, RouteTable(default=None))
    service.set_engine("*", engine)
    with pytest.raises(AiError, match=says) as caught:
        await service.run(model, inputs)
    assert caught.value.code == 5006 and engine.requests == []


async def test_an_empty_batch_needs_no_engine():
    engine = ScriptedEngine()
    service = AiService(CATALOGUE, RouteTable(default=None))
    service.set_engine("*", engine)
    result = await service.run("@cf/pfnet/plamo-embedding-1b", {"text": []})
    assert result == {"shape": [0, 2048], "data": []} and engine.requests == []


@pytest.mark.parametrize("model", MODELS)
async def test_scripted_replies_have_each_models_shape(model):
    service = AiService(CATALOGUE, RouteTable([RouteLayer("cli", tuple(
        parse_routes("*=scripted")))]))
    entry = CATALOGUE.get(model)
    first = await service.run(model, inputs_for(model, ["same", "other"]))
    again = await service.run(model, inputs_for(model, ["same"]))
    validate_output(first.to_py(), entry.output_schema)
    vectors = vectors_of(model, first)
    assert vectors.shape == (2, dimension(entry))
    assert np.allclose(vectors[0], vectors_of(model, again)[0])  # deterministic per text


def test_fit_dimension_keeps_similarities_exactly():
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((5, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for target in (768, 1024, 2048):
        wide = fit_dimension(vectors, target)
        assert wide.shape == (5, target)
        assert np.allclose(wide @ wide.T, vectors @ vectors.T, atol=1e-5)
        assert np.array_equal(wide, fit_dimension(vectors, target))  # fixed, not random
    narrow = fit_dimension(vectors, 128)
    assert narrow.shape == (5, 128)
    assert np.allclose(narrow, vectors[:, :128] / np.linalg.norm(vectors[:, :128], axis=1,
                                                                  keepdims=True))


async def test_a_test_script_answers_embeddings_with_their_shape():
    from emulator.testing.ai_script import AiScript, RecordingAiService

    exact = {"shape": [1, 2], "data": [[0.6, 0.8]]}
    script = AiScript({"@cf/baai/bge-small-en-v1.5": exact}, default="any text")
    service = RecordingAiService.for_script(script)
    assert await service.run("@cf/baai/bge-small-en-v1.5", {"text": "hi"}) == exact
    result = await service.run("@cf/baai/bge-large-en-v1.5", {"text": ["a", "b", "c"]})
    validate_output(result.to_py(), CATALOGUE.get("@cf/baai/bge-large-en-v1.5").output_schema)
    assert result["shape"] == [3, 1024] and len(result["data"][2]) == 1024
    ranked = await service.run(M3, {"query": "q", "contexts": [{"text": "a"}, {"text": "b"}]})
    assert sorted(r["id"] for r in ranked["response"]) == [0, 1]
