"""A bounded schemathesis run of the REST API from its own OpenAPI document.

Every operation gets a few positive and negative cases (hypothesis, no shrinking): no
answer may be a server error, and every rejection must be in the API's error format
(the v4 envelope, or OpenAI's error body on the `/ai/v1/` paths).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bindings.ai.catalogue import Catalogue
from bindings.ai.rest import create_app
from bindings.ai.rest.openapi import build_openapi
from tests.bindings.ai.rest.support import CHAT_MODEL, FP16_MODEL, scripted_service
from tests.fakes.loopback import LoopbackServer, serve

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 8


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[LoopbackServer]:
    with serve(create_app(scripted_service(), max_body_bytes=64 * 1024)) as server:
        yield server


def _schema():
    # Built from the same document the app serves (schemathesis' lazy fixture loader
    # does not work with this pytest), so collection needs no server. The models are the
    # seeds': the other records' output shapes belong to their tasks' own tests (every
    # record's input validation: tests/bindings/ai/catalogue/test_records.py).
    catalogue = scripted_service().catalogue
    document = build_openapi(Catalogue(map(catalogue.get, (CHAT_MODEL, FP16_MODEL))))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        no_shrink=True,
        deterministic=True,
        database="none",
    )
    loaded.config.phases.update(phases=["examples", "fuzzing"])
    return loaded


schema = _schema()


def rejection_in_error_format(ctx, response, case) -> bool | None:
    """Every 4xx/5xx body is the v4 error envelope, or an OpenAI error on /ai/v1/."""
    if response.status_code < 400:
        return None
    body = response.json()
    if "/ai/v1/" in case.path:
        error = body["error"]
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str)
        return True
    assert body["success"] is False and body["result"] is None
    assert body["messages"] == []
    assert body["errors"] and all(
        isinstance(e["code"], int) and isinstance(e["message"], str) for e in body["errors"]
    )
    return True


@schema.parametrize()
def test_no_server_errors_and_every_rejection_is_an_envelope(case, fuzz_server):
    response = case.call(base_url=fuzz_server.url, timeout=20)
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
    rejection_in_error_format(None, response, case)


def test_the_document_describes_every_model_and_endpoint():
    service = scripted_service()
    document = build_openapi(service.catalogue, server_url="http://x", secured=True)
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    prefix = "/client/v4/accounts/{account_id}/ai"
    for entry in service.catalogue.entries():
        run = paths[f"{prefix}/run/{entry.name}"]["post"]
        assert run["requestBody"]["content"]["application/json"]["schema"] == entry.input_schema
        assert "text/event-stream" in run["responses"]["200"]["content"]
    for path in ("models/search", "models/schema", "v1/chat/completions"):
        assert f"{prefix}/{path}" in paths
    assert document["security"] == [{"bearer": []}]
    chat_models = paths[f"{prefix}/v1/chat/completions"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["properties"]["model"]["enum"]
    assert {CHAT_MODEL, FP16_MODEL, "@cf/meta/llama-3.1-8b-instruct"} <= set(chat_models)
    assert "@cf/baai/bge-m3" not in chat_models and "@cf/openai/gpt-oss-120b" not in chat_models


def test_served_document_names_its_server(fuzz_server):
    document = httpx.get(f"{fuzz_server.url}/openapi.json").json()
    assert document["servers"] == [{"url": fuzz_server.url}]
    assert "security" not in document
