"""The Workers AI REST API through the official `cloudflare` SDK and plain HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import cloudflare
import httpx
import pytest
from cloudflare import Cloudflare

from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.rest import create_app
from tests.bindings.ai.rest.support import (
    ACCOUNT,
    CHAT_MODEL,
    FP16_MODEL,
    TOKEN,
    run_url,
    scripted_service,
)
from tests.fakes.loopback import serve


def sdk(server, token: str = "unused") -> Cloudflare:
    return Cloudflare(api_token=token, base_url=f"{server.url}/client/v4", max_retries=0)


# --- the official SDK -----------------------------------------------------------------


def test_sdk_run_messages_returns_the_result(api_server):
    result = sdk(api_server).ai.run(
        CHAT_MODEL,
        account_id=ACCOUNT,
        messages=[
            {"role": "system", "content": "You are a friendly assistant"},
            {"role": "user", "content": "Why is pizza so good"},
        ],
    )
    assert result["response"] == "Why is pizza so good"
    assert result["usage"]["completion_tokens"] == 5
    assert result["usage"]["total_tokens"] == (
        result["usage"]["prompt_tokens"] + result["usage"]["completion_tokens"]
    )


def test_sdk_run_prompt(api_server):
    result = sdk(api_server).ai.run(FP16_MODEL, account_id=ACCOUNT, prompt="Tell me about PEP-8")
    assert result["response"] == "Tell me about PEP-8"


def test_sdk_invalid_input_is_a_5006_bad_request(api_server):
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk(api_server).ai.run(FP16_MODEL, account_id=ACCOUNT, prompt="")
    assert caught.value.status_code == 400
    body = caught.value.body
    assert body["success"] is False and body["result"] is None
    assert body["errors"][0]["code"] == 5006
    assert body["errors"][0]["message"].startswith("5006: Error: oneOf at '/' not met")


def test_sdk_unknown_model_is_5007(api_server):
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk(api_server).ai.run("@cf/nobody/nothing", account_id=ACCOUNT, prompt="hi")
    assert caught.value.body["errors"][0]["code"] == 5007
    assert "@cf/nobody/nothing" in caught.value.body["errors"][0]["message"]


def test_sdk_models_list_paginates_the_whole_catalogue(api_server):
    client = sdk(api_server)
    first = client.ai.models.list(account_id=ACCOUNT, per_page=1)
    assert len(first.result) == 1
    assert first.result_info.total_count >= 2
    names = [model["name"] for model in client.ai.models.list(account_id=ACCOUNT, per_page=1)]
    assert CHAT_MODEL in names and FP16_MODEL in names
    assert len(names) == len(set(names)) == first.result_info.total_count


def test_sdk_models_list_filters(api_server):
    client = sdk(api_server)
    by_author = [m["name"] for m in client.ai.models.list(account_id=ACCOUNT, author="thebloke")]
    assert CHAT_MODEL in by_author and FP16_MODEL not in by_author
    assert all(name.split("/")[1] == "thebloke" for name in by_author)
    searched = client.ai.models.list(account_id=ACCOUNT, search="fp16")
    assert [model["name"] for model in searched.result] == [FP16_MODEL]
    record = searched.result[0]
    assert record["task"]["name"] == "Text Generation"
    assert {"id", "source", "description", "tags", "properties"} <= set(record)
    assert client.ai.models.list(account_id=ACCOUNT, task="Nothing Such").result == []


def test_sdk_schema_get_is_the_catalogue_schema(api_server):
    schema = sdk(api_server).ai.models.schema.get(account_id=ACCOUNT, model=FP16_MODEL)
    raw = schema.model_dump(by_alias=True, exclude_none=True)
    assert raw["input"]["type"] == "object"
    assert [set(b["required"]) for b in raw["input"]["oneOf"]] == [{"prompt"}, {"messages"}]
    assert raw["output"]["oneOf"][0]["properties"]["response"]["type"] == "string"


def test_sdk_tasks_and_authors(api_server):
    client = sdk(api_server)
    tasks = [task["name"] for task in client.ai.tasks.list(account_id=ACCOUNT)]
    assert len(tasks) == 13 and {"Text Generation", "Text Embeddings", "Translation"} <= set(tasks)
    authors = [author["name"] for author in client.ai.authors.list(account_id=ACCOUNT)]
    assert {"meta", "thebloke"} <= set(authors)


def test_sdk_with_the_right_token(secured_server):
    result = sdk(secured_server, TOKEN).ai.run(FP16_MODEL, account_id=ACCOUNT, prompt="ok")
    assert result["response"] == "ok"


def test_sdk_with_a_wrong_token_is_an_authentication_error(secured_server):
    with pytest.raises(cloudflare.AuthenticationError) as caught:
        sdk(secured_server, "not-it").ai.run(FP16_MODEL, account_id=ACCOUNT, prompt="x")
    assert caught.value.status_code == 401
    assert caught.value.body["errors"] == [{"code": 10000, "message": "Authentication error"}]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic abc"}, {"Authorization": f"Bearer {TOKEN}x"}]
)
def test_missing_or_malformed_authorization(secured_server, headers):
    response = httpx.post(
        run_url(secured_server.url, FP16_MODEL), json={"prompt": "x"}, headers=headers
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == 10000
    # the catalogue search is protected too
    search = httpx.get(
        f"{secured_server.url}/client/v4/accounts/a/ai/models/search", headers=headers
    )
    assert search.status_code == 401


# --- plain HTTP: streaming, bodies, errors --------------------------------------------


def test_stream_true_returns_raw_sse(api_server):
    with httpx.stream(
        "POST",
        run_url(api_server.url, CHAT_MODEL),
        json={"prompt": "one two three", "stream": True},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert frames[-1] == "data: [DONE]"
    payloads = [json.loads(frame[6:]) for frame in frames[:-1]]
    assert "".join(p["response"] for p in payloads) == "one two three"
    assert payloads[-1]["usage"]["completion_tokens"] == 3


def test_json_without_content_type_is_accepted(api_server):
    # curl -d sends application/x-www-form-urlencoded; Cloudflare's own examples rely on it
    response = httpx.post(
        run_url(api_server.url, FP16_MODEL),
        content=b'{"prompt": "curl"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json()["result"]["response"] == "curl"


def test_empty_account_segment_is_served(api_server):
    # `$CLOUDFLARE_ACCOUNT_ID` unset in a copied curl command gives /accounts//ai/run/...
    response = httpx.post(run_url(api_server.url, FP16_MODEL, account=""), json={"prompt": "x"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "malformed JSON"),
        (b"", "body is empty"),
        (b"[1, 2]", "not an array"),
        (b'"text"', "not a string"),
        (b"\xff\xfe", "malformed JSON"),
        (b'{"prompt": NaN}', "NaN is not a JSON value"),
        (b'{"prompt": "x", "temperature": -Infinity}', "-Infinity is not a JSON value"),
    ],
)
def test_bad_bodies_get_a_400_envelope(api_server, body, fragment):
    response = httpx.post(run_url(api_server.url, FP16_MODEL), content=body)
    assert response.status_code == 400
    envelope = response.json()
    assert envelope["success"] is False and envelope["result"] is None
    assert envelope["messages"] == []
    assert envelope["errors"][0]["code"] == 3003
    assert fragment in envelope["errors"][0]["message"]


def test_body_over_the_limit_is_413_with_3006():
    app = create_app(scripted_service(), max_body_bytes=1000)
    big = json.dumps({"prompt": "x" * 2000}).encode()

    def chunked():
        for start in range(0, len(big), 256):
            yield big[start : start + 256]

    with serve(app) as server:
        declared = httpx.post(run_url(server.url, FP16_MODEL), content=big)
        streamed = httpx.post(run_url(server.url, FP16_MODEL), content=chunked())
        small = httpx.post(run_url(server.url, FP16_MODEL), json={"prompt": "fits"})
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["errors"][0]["code"] == 3006
    assert "chunked" in streamed.request.headers.get("transfer-encoding", "")
    assert small.status_code == 200


def test_unknown_path_and_wrong_method_are_envelopes(api_server):
    missing = httpx.get(f"{api_server.url}/client/v4/accounts/a/ai/nothing")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == 7000
    wrong = httpx.get(run_url(api_server.url, FP16_MODEL))
    assert wrong.status_code == 405
    assert wrong.json()["success"] is False
    assert "POST" in wrong.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "query", ["per_page=0", "per_page=abc", "page=-1", "hide_experimental=maybe", "source=x"]
)
def test_bad_search_parameters(api_server, query):
    response = httpx.get(f"{api_server.url}/client/v4/accounts/a/ai/models/search?{query}")
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_schema_needs_a_known_model(api_server):
    base = f"{api_server.url}/client/v4/accounts/a/ai/models/schema"
    assert httpx.get(base).status_code == 400
    unknown = httpx.get(base, params={"model": "@cf/x/y"})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["code"] == 5007


def test_mid_stream_engine_failure_ends_with_an_error_frame():
    service = scripted_service()
    service.set_engine(FP16_MODEL, ScriptedEngine(text="a b c d e", fail_after=2))
    with (
        serve(create_app(service)) as server,
        httpx.stream(
            "POST", run_url(server.url, FP16_MODEL), json={"prompt": "x", "stream": True}
        ) as response,
    ):
        assert response.status_code == 200
        body = response.read().decode()
    assert "event: error" in body and "3043" in body
    assert "[DONE]" not in body


class _TrackingEngine(ScriptedEngine):
    """Records, across threads, when a generation's iterator is closed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ended = threading.Event()
        self.tokens_sent = 0

    async def generate(self, request):
        try:
            async for item in super().generate(request):
                if isinstance(item, str):
                    self.tokens_sent += 1
                yield item
        finally:
            self.ended.set()


def test_client_disconnect_stops_the_generation():
    engine = _TrackingEngine(text=" ".join(["word"] * 400), delay=0.02)
    service = scripted_service()
    service.set_engine(FP16_MODEL, engine)
    with serve(create_app(service)) as server:
        with httpx.stream(
            "POST",
            run_url(server.url, FP16_MODEL),
            json={"prompt": "x", "stream": True, "max_tokens": 400},
        ) as response:
            first = next(response.iter_lines())
            assert first.startswith("data: ")
        assert engine.ended.wait(timeout=5), "the engine kept generating after the disconnect"
    assert engine.tokens_sent < 400


# --- the seed page's curl command, URL swapped ------------------------------------------

#: verbatim from the Cloudflare model page (seed 001), only the host differs
SEED_CURL = """curl https://api.cloudflare.com/client/v4/accounts/$CLOUDFLARE_ACCOUNT_ID/ai/run/@hf/thebloke/llama-2-13b-chat-awq \\
-X POST \\
-H "Authorization: Bearer $CLOUDFLARE_AUTH_TOKEN" \\
-d '{ "messages": [{ "role": "system", "content": "You are a friendly assistant" }, { "role": "user", "content": "Why is pizza so good" }]}'"""  # noqa: E501


def _seed_page() -> Path | None:
    for root in (Path(__file__).resolve().parents[4], Path("/work/main")):
        seeds = root.parent / "shared" / "seeds"
        found = sorted(seeds.glob("001_*")) if seeds.is_dir() else []
        if found:
            return found[0]
    return None


def _run_curl(command: str, env: dict[str, str]) -> dict:
    done = subprocess.run(
        ["bash", "-c", command + " --silent --show-error --max-time 20"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_seed_curl_command_with_the_url_swapped(secured_server):
    seed = _seed_page()
    if seed is not None:  # the command above is the seed's, character for character
        lines = [line.strip() for line in seed.read_text().splitlines()]
        start = next(i for i, line in enumerate(lines) if line.startswith("curl https://api."))
        assert "\n".join(lines[start : start + 4]) == SEED_CURL
    command = SEED_CURL.replace("https://api.cloudflare.com", secured_server.url)
    result = _run_curl(command, {"CLOUDFLARE_ACCOUNT_ID": ACCOUNT, "CLOUDFLARE_AUTH_TOKEN": TOKEN})
    assert result["success"] is True and result["errors"] == []
    assert result["result"]["response"] == "Why is pizza so good"
    denied = _run_curl(command, {"CLOUDFLARE_ACCOUNT_ID": ACCOUNT, "CLOUDFLARE_AUTH_TOKEN": "no"})
    assert denied["errors"][0]["code"] == 10000


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        # not JSON at all: the API's own bad-request error
        ("run/" + FP16_MODEL, b'{"prompt": "x", "temperature": NaN}', 3003),
        ("v1/chat/completions", b'{"model": "%s", "messages": [], "top_p": Infinity}', 3003),
        # JSON, but no model input can hold it
        ("run/" + FP16_MODEL, b'{"prompt": "\\ud800"}', 5006),
        ("run/" + FP16_MODEL, b'{"prompt": "x", "temperature": 1e999}', 5006),
        ("run/" + FP16_MODEL, b'{"prompt": ' + b"[" * 5000 + b"]" * 5000 + b"}", 5006),
        ("v1/chat/completions", b'{"model": "%s", "messages": [{"role": "user", '
         b'"content": "\\udc00"}]}', 5006),
        ("v1/chat/completions", b'{"model": "%s", "messages": [{"role": "user", '
         b'"content": "x"}], "temperature": -1e999}', 5006),
    ],
)
def test_values_json_cannot_carry_never_reach_the_engine(path, body, code):
    service = scripted_service()
    engine = ScriptedEngine(text="never")
    service.set_engine("*", engine)
    body = body.replace(b"%s", FP16_MODEL.encode())
    with serve(create_app(service)) as server:
        response = httpx.post(f"{server.url}/client/v4/accounts/{ACCOUNT}/ai/{path}", content=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    error = answer["errors"][0] if "errors" in answer else answer["error"]
    assert error["code"] == code, error
    assert engine.requests == []


# --- the whole catalogue through search, paging and schema ------------------------------


def test_search_pages_through_every_record_with_result_info(api_server):
    from bindings.ai.catalogue import load_catalogue

    catalogue = load_catalogue()
    url = f"{api_server.url}/client/v4/accounts/{ACCOUNT}/ai/models/search"
    names, page = [], 1
    while True:
        body = httpx.get(url, params={"per_page": 7, "page": page}).json()
        info = body["result_info"]
        assert info["page"] == page and info["per_page"] == 7
        assert info["total_count"] == len(catalogue) and info["count"] == len(body["result"])
        if not body["result"]:
            break
        assert info["count"] == min(7, len(catalogue) - 7 * (page - 1))
        names += [record["name"] for record in body["result"]]
        page += 1
    assert page == -(-len(catalogue) // 7) + 1  # one empty page past the last
    assert names == catalogue.names()
    record = httpx.get(url, params={"search": "microsoft/resnet"}).json()["result"]
    assert [r["name"] for r in record] == ["@cf/microsoft/resnet-50"]
    assert set(record[0]) == {"id", "source", "name", "description", "task", "tags",
                              "properties"}
    assert set(record[0]["task"]) == {"id", "name", "description"}


def test_sdk_auto_pages_each_filter(api_server):
    from bindings.ai.catalogue import load_catalogue

    catalogue = load_catalogue()
    client = sdk(api_server)

    def listed(**filters):
        return [m["name"] for m in client.ai.models.list(account_id=ACCOUNT, per_page=4,
                                                            **filters)]

    images = listed(task="Text-to-Image")
    assert images == [e.name for e in catalogue.matching(task="Text-to-Image")]
    assert len(images) == 11 and listed(task="text-to-image") == images
    partner = listed(source=2)
    assert partner and partner == [e.name for e in catalogue if e.source == 2]
    assert listed(task="Text Generation", author="meta", search="llama-3.1") == [
        e.name for e in catalogue.matching(search="llama-3.1", task="Text Generation",
                                           author="meta")]
    assert listed(hide_experimental=True) == catalogue.names()  # none is experimental


def test_hide_experimental_leaves_experimental_models_out(tmp_path):
    from dataclasses import replace

    from bindings.ai.catalogue import RECORDS_DIR
    from bindings.ai.service import AiService
    from emulator.local_settings import AiSettings

    record = json.loads((RECORDS_DIR / "resnet-50.json").read_text())
    record["name"] = "@cf/test/resnet-experimental"
    record["properties"] = [*record.get("properties", []),
                            {"property_id": "experimental", "value": "true"}]
    (tmp_path / "resnet-experimental.json").write_text(json.dumps(record))
    settings = AiSettings.from_specs(["*=scripted:echo"])
    service = AiService.from_settings(replace(settings, catalogue=(tmp_path,)))
    with serve(create_app(service)) as server:
        client = sdk(server)
        shown = [m["name"] for m in client.ai.models.list(account_id=ACCOUNT, search="resnet")]
        hidden = [m["name"] for m in client.ai.models.list(
            account_id=ACCOUNT, search="resnet", hide_experimental=True)]
    assert "@cf/test/resnet-experimental" in shown
    assert "@cf/test/resnet-experimental" not in hidden and "@cf/microsoft/resnet-50" in hidden


def test_schema_answers_for_every_record(api_server):
    from bindings.ai.catalogue import load_catalogue

    url = f"{api_server.url}/client/v4/accounts/{ACCOUNT}/ai/models/schema"
    with httpx.Client() as client:
        for entry in load_catalogue():
            body = client.get(url, params={"model": entry.name}).json()
            assert body["success"] is True, entry.name
            assert body["result"] == {"input": entry.input_schema,
                                      "output": entry.output_schema}, entry.name
    # and through the SDK, for a model of each of a few tasks
    for model in ("@cf/openai/whisper", "@cf/lykon/dreamshaper-8-lcm", "@cf/baai/bge-m3"):
        got = sdk(api_server).ai.models.schema.get(account_id=ACCOUNT, model=model)
        assert got.input is not None and got.output is not None
