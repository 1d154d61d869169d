"""`/ai/v1/embeddings` through the official `openai` SDK, and embeddings models through
the `cloudflare` SDK's `ai.run`, on the CPU stand-in served on loopback."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import openai
import pytest
from cloudflare import Cloudflare
from openai import OpenAI

from bindings.ai.catalogue import load_catalogue
from bindings.ai.engines.bert_encoder import bundled_path
from bindings.ai.rest import create_app
from bindings.ai.routing import RouteTable
from bindings.ai.service import AiService
from tests.bindings.ai.rest.support import ACCOUNT, FP16_MODEL
from tests.fakes.loopback import serve

BGE = "@cf/baai/bge-base-en-v1.5"
TIMEOUT = 120  # a loaded 2-core CI machine encodes slowly; never a reason to fail
TEXTS = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]


@pytest.fixture(scope="module")
def server():
    try:
        bundled_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    with serve(create_app(AiService(load_catalogue(), RouteTable()))) as srv:
        yield srv


def client(server) -> OpenAI:
    return OpenAI(api_key="unused", base_url=f"{server.url}/client/v4/accounts/{ACCOUNT}/ai/v1",
                  max_retries=0)


def url(server) -> str:
    return f"{server.url}/client/v4/accounts/{ACCOUNT}/ai/v1/embeddings"


def test_openai_sdk_embeddings_create(server):
    # the SDK asks for base64 unless told otherwise, and decodes it itself
    answer = client(server).embeddings.create(model=BGE, input=TEXTS)
    vectors = np.array([item.embedding for item in answer.data])
    assert vectors.shape == (3, 768) and [d.index for d in answer.data] == [0, 1, 2]
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2]
    assert answer.model == BGE and answer.usage.prompt_tokens == answer.usage.total_tokens > 6
    one = client(server).embeddings.create(model=BGE, input=TEXTS[0], encoding_format="float")
    assert np.allclose(one.data[0].embedding, vectors[0], atol=1e-6)


def test_float_and_base64_are_the_same_vectors(server):
    body = {"model": "@cf/baai/bge-small-en-v1.5", "input": TEXTS[:2]}
    floats = httpx.post(url(server), json=body, timeout=TIMEOUT).json()
    packed = httpx.post(url(server), json={**body, "encoding_format": "base64"},
                        timeout=TIMEOUT).json()
    assert floats["object"] == "list" and floats["data"][0]["object"] == "embedding"
    decoded = np.frombuffer(base64.b64decode(packed["data"][1]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, floats["data"][1]["embedding"])
    assert len(decoded) == 384


def test_dimensions_truncate_and_renormalize(server):
    answer = client(server).embeddings.create(model=BGE, input=TEXTS[0], dimensions=64)
    vector = np.array(answer.data[0].embedding)
    assert vector.shape == (64,) and np.linalg.norm(vector) == pytest.approx(1, abs=1e-5)
    with pytest.raises(openai.BadRequestError, match="gives 768-dimensional vectors"):
        client(server).embeddings.create(model=BGE, input="x", dimensions=4096)


def test_bge_m3_takes_the_texts_as_contexts(server):
    answer = client(server).embeddings.create(model="@cf/baai/bge-m3", input=TEXTS)
    assert len(answer.data) == 3 and len(answer.data[0].embedding) == 1024


@pytest.mark.parametrize(("body", "says"), [
    ({"model": BGE, "input": [[1, 2, 3]]}, "token ids is not supported"),
    ({"model": BGE, "input": None}, "'input' is required"),
    ({"model": BGE, "input": ""}, "5006"),  # the model's own schema: minLength 1
    ({"model": BGE, "input": ["a"] * 101}, "5006"),
    ({"model": BGE, "input": "a", "encoding_format": "int8"}, "'encoding_format' must be"),
    ({"model": BGE, "input": "a", "dimensions": 0}, "'dimensions' must be a positive"),
    ({"model": FP16_MODEL, "input": "a"}, "Text Generation model; /v1/embeddings takes"),
    ({"input": "a"}, "'model' is required"),
])
def test_bad_requests_are_openai_errors(server, body, says):
    response = httpx.post(url(server), json=body, timeout=TIMEOUT)
    assert response.status_code == 400
    error = response.json()["error"]
    assert says in error["message"] and error["type"] == "invalid_request_error"


def test_unknown_model_is_5007(server):
    with pytest.raises(openai.BadRequestError, match="5007"):
        client(server).embeddings.create(model="@cf/baai/bge-nope", input="a")


def test_cloudflare_sdk_ai_run_embeds(server):
    sdk = Cloudflare(api_token="unused", base_url=f"{server.url}/client/v4", max_retries=0)
    result = sdk.ai.run(BGE, account_id=ACCOUNT, text=TEXTS)
    assert result["shape"] == [3, 768] and len(result["data"][2]) == 768
    # the SDK's signatures lack bge-m3's query/contexts: the same endpoint over plain HTTP
    ranked = httpx.post(f"{server.url}/client/v4/accounts/{ACCOUNT}/ai/run/@cf/baai/bge-m3",
                        json={"query": TEXTS[0], "contexts": [{"text": TEXTS[2]},
                                                              {"text": TEXTS[1]}]},
                        timeout=TIMEOUT).json()
    assert ranked["success"] and ranked["result"]["response"][0]["id"] == 1
