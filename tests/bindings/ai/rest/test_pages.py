"""The catalogue pages as HTML (httpx): content, escaping, and snippets that run as shown."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import markupsafe
import pytest

from bindings.ai.rest import create_app
from bindings.ai.rest.schema_view import top_level
from bindings.ai.service import AiService
from emulator.local_settings import AiSettings
from tests.bindings.ai.rest.support import CHAT_MODEL, FP16_MODEL, TOKEN, scripted_service

SEED_ENTRY = next(
    (Path(__file__).resolve().parents[4] / "bindings/ai/catalogue/entries").glob(
        "llama-2-7b-chat-fp16.md"
    )
)


@pytest.fixture(scope="module")
def service() -> AiService:
    return scripted_service()


@pytest.fixture
async def pages(service):
    transport = httpx.ASGITransport(app=create_app(service))
    base = "http://edge.localhost:8788"
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        yield client


def block(page: str, testid: str) -> str:
    """The unescaped text of the first <code> in (or after) the element with that data-testid."""
    match = re.search(rf'data-testid="{re.escape(testid)}".*?<code[^>]*>(.*?)</code>', page, re.S)
    assert match, f"no element {testid}"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))  # minus colouring spans


def param_names(page: str, testid: str) -> list[str]:
    section = page.split(f'data-testid="{testid}"', 1)[1].split("</ul>\n  <h", 1)[0]
    return re.findall(r'data-testid="param" data-name="([^"]*)"', section)


async def test_index_lists_every_model(pages, service):
    for path in ("/", "/models"):
        response = await pages.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        page = response.text
        entries = service.catalogue.entries()
        assert page.count('data-testid="model-card"') == len(entries)
        for entry in entries:
            assert f'href="/models/{entry.name}"' in page
            assert str(markupsafe.escape(entry.description)) in page
            assert entry.task_name in page and entry.author in page
        assert 'data-testid="search"' in page


async def test_model_page_header(pages, service):
    entry = service.catalogue.get(CHAT_MODEL)
    page = (await pages.get(f"/models/{CHAT_MODEL}")).text
    assert '<h1 data-testid="model-title">llama-2-13b-chat-awq' in page
    assert f'data-testid="model-id">{CHAT_MODEL}<' in page
    assert entry.description in page
    assert "Text Generation • thebloke" in page
    for tag in entry.tags:
        assert f'<span class="chip">{tag}</span>' in page
    assert 'href="https://huggingface.co/TheBloke/Llama-2-13B-chat-AWQ"' in page
    assert 'data-testid="engine">scripted: echo<' in page


@pytest.mark.parametrize("model", [CHAT_MODEL, FP16_MODEL])
async def test_every_parameter_is_shown(pages, service, model):
    entry = service.catalogue.get(model)
    page = (await pages.get(f"/models/{model}")).text
    shown = param_names(page, "input-params")
    expected = [node.name for form in top_level(entry.input_schema) for node in form.walk()]
    assert shown == expected
    assert shown[0] == "Prompt" and "Messages" in shown
    for branch in entry.input_schema["oneOf"]:
        assert set(branch["properties"]) <= set(shown)
    assert {"items", "role", "content"} <= set(shown)
    assert param_names(page, "output-params")[:2] == ["0", "response"]


async def test_parameter_facts(pages):
    page = (await pages.get(f"/models/{FP16_MODEL}")).text
    temperature = page.split('data-name="temperature"', 1)[1].split("</li>", 1)[0]
    assert "min <b>0</b>" in temperature and "max <b>5</b>" in temperature
    seed = page.split('data-name="seed"', 1)[1].split("</li>", 1)[0]
    assert "max <b>9999999999</b>" in seed
    tokens = page.split('data-name="max_tokens"', 1)[1].split("</li>", 1)[0]
    assert "default <b>256</b>" in tokens
    prompt = page.split('data-name="prompt"', 1)[1].split("</li>", 1)[0]
    assert "required" in prompt and "min <b>1</b>" in prompt


async def test_raw_schemas_are_the_catalogue_schemas(pages, service):
    entry = service.catalogue.get(CHAT_MODEL)
    page = (await pages.get(f"/models/{CHAT_MODEL}")).text
    assert json.loads(block(page, "input-schema")) == entry.input_schema
    assert json.loads(block(page, "output-schema")) == entry.output_schema


async def test_snippets_point_at_this_emulator(pages):
    page = (await pages.get(f"/models/{CHAT_MODEL}")).text
    assert "api.cloudflare.com" not in page
    for key in ("python", "curl", "openai"):
        assert "http://edge.localhost:8788/client/v4/accounts/" in block(page, f"snippet-{key}")
    for key in ("worker-streaming", "worker"):
        code = block(page, f"snippet-{key}")
        assert "class Default(WorkerEntrypoint)" in code
        assert f'"{CHAT_MODEL}"' in code
    assert '"stream": True' in block(page, "snippet-worker-streaming")


async def test_no_asset_comes_from_the_network(pages):
    for path in ("/", f"/models/{CHAT_MODEL}"):
        page = (await pages.get(path)).text
        assert "<link" not in page
        assert not re.search(r"<script[^>]+src=", page)
        assert not re.search(r"url\(\s*['\"]?https?:", page)


async def test_unknown_model_page_is_404(pages):
    response = await pages.get("/models/@cf/nobody/nothing")
    assert response.status_code == 404
    assert "5007" in response.text and "@cf/nobody/nothing" in response.text


def _custom_entry(
    tmp_path: Path, name: str, description: str, beta: str, extra_properties: str = ""
) -> Path:
    text = SEED_ENTRY.read_text()
    text = text.replace("@cf/meta/llama-2-7b-chat-fp16", name)
    text = re.sub(
        r'description: "Full precision[^"]*"',
        f"description: {json.dumps(description)}",
        text,
        count=1,
    )
    text = text.replace(
        'property_id: "beta"\n      value: "false"',
        f'property_id: "beta"\n      value: "{beta}"' + extra_properties,
    )
    folder = tmp_path / "catalogue"
    folder.mkdir(exist_ok=True)
    (folder / f"{name.rsplit('/', 1)[-1]}.md").write_text(text)
    return folder


async def test_catalogue_text_is_escaped_and_beta_is_badged(tmp_path):
    more = (
        '\n    - property_id: "function_calling"\n      value: "true"'
        '\n    - property_id: "lora"\n      value: "false"'
        '\n    - property_id: "planned_deprecation_date"\n      value: "2001-01-01"'
    )
    folder = _custom_entry(
        tmp_path, "@cf/test/evil-model", "<script>alert(1)</script> & co", "true", more
    )
    settings = AiSettings.from_specs(["*=scripted:echo"])
    service = AiService.from_settings(replace(settings, catalogue=(folder,)))
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://t.localhost") as client:
        for path in ("/", "/models/@cf/test/evil-model"):
            page = (await client.get(path)).text
            assert "<script>alert(1)</script>" not in page
            assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
        model_page = (await client.get("/models/@cf/test/evil-model")).text
        assert 'data-testid="beta">Beta<' in model_page
        badges = model_page.split('data-testid="badges"', 1)[1].split("</div>", 1)[0]
        assert re.findall(r'class="badge">([^<]*)<', badges) == ["Function calling", "Deprecated"]
        plain = (await client.get(f"/models/{FP16_MODEL}")).text  # beta: "false"
        assert 'data-testid="beta"' not in plain


async def test_token_field_only_when_a_token_is_required():
    for token, shown in ((None, False), (TOKEN, True)):
        app = create_app(scripted_service(), api_token=token)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t.localhost"
        ) as client:
            signed = {"authorization": f"Bearer {TOKEN}"}
            page = (await client.get(f"/models/{CHAT_MODEL}", headers=signed)).text
        assert ('data-testid="token"' in page) is shown


# --- the snippets run as shown ------------------------------------------------------------


def _live_page(server, model: str) -> str:
    signed = {"authorization": f"Bearer {TOKEN}"}  # the pages need the token too
    return httpx.get(f"{server.url}/models/{model}", headers=signed).text


def test_python_snippet_runs_as_shown(secured_server):
    code = block(_live_page(secured_server, CHAT_MODEL), "snippet-python")
    pytest.importorskip("requests")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CLOUDFLARE_AUTH_TOKEN": TOKEN},
    )
    assert done.returncode == 0, done.stderr
    assert "'success': True" in done.stdout
    assert "Tell me all about PEP-8" in done.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_snippet_runs_as_shown(secured_server):
    code = block(_live_page(secured_server, CHAT_MODEL), "snippet-curl").strip()
    env = {**os.environ, "CLOUDFLARE_ACCOUNT_ID": "abc", "CLOUDFLARE_AUTH_TOKEN": TOKEN}
    done = subprocess.run(
        ["bash", "-c", code + " --silent --show-error"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["success"] is True
    assert result["result"]["response"] == "Why is pizza so good"


def test_openai_snippet_runs_as_shown(secured_server):
    code = block(_live_page(secured_server, CHAT_MODEL), "snippet-openai")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CLOUDFLARE_AUTH_TOKEN": TOKEN},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Make some robot noises"


async def test_worker_snippets_run_in_the_emulator(tmp_path, pages, monkeypatch):
    from bindings.registry import BindingHost
    from emulator import loader
    from emulator.config import load_config
    from emulator.context import ExecutionContext
    from emulator.local_settings import load_local_settings
    from emulator.sdk import Request

    monkeypatch.delenv("EDGE_AI_ROUTES", raising=False)
    page = (await pages.get(f"/models/{CHAT_MODEL}")).text
    (tmp_path / "wrangler.toml").write_text(block(page, "snippet-wrangler"))
    (tmp_path / "src").mkdir()
    settings = load_local_settings(None, ai_routes=["*=scripted:echo"])
    host = BindingHost(state_dir=tmp_path / "state", settings=settings)
    try:
        for key in ("worker", "worker-streaming"):
            (tmp_path / "src" / "entry.py").write_text(block(page, f"snippet-{key}"))
            config = load_config(tmp_path)
            worker = loader.load(config, host)
            response = await worker.fetch(Request("http://localhost/"), ExecutionContext())
            assert response.status == 200
            text = await response.text()
            if key == "worker":
                assert (
                    json.loads(text)["response"] == "What is the origin of the phrase Hello, World"
                )
            else:
                assert response.headers.get("content-type") == "text/event-stream"
                assert text.endswith("data: [DONE]\n\n")
    finally:
        await host.close()


# --- every model of the catalogue -------------------------------------------------------


async def test_every_model_page_renders_its_schema_snippets_and_playground(pages, service):
    from bindings.ai.tasks import get_task
    from bindings.ai.tasks.base import Task
    from bindings.ai.tasks.examples import files_in

    for entry in service.catalogue:
        response = await pages.get(f"/models/{entry.name}")
        assert response.status_code == 200, entry.name
        page = response.text
        for testid, schema in (("input-params", entry.input_schema),
                               ("output-params", entry.output_schema)):
            expected = [node.name for form in top_level(schema) for node in form.walk()]
            assert param_names(page, testid) == expected, (entry.name, testid)
        assert json.loads(block(page, "input-schema")) == entry.input_schema, entry.name
        task = get_task(entry.task_name) or Task()
        keys = re.findall(r'data-testid="snippet-([\w-]+)"', page)
        streamed = any(f.streamed for f in files_in(task.example_inputs(entry)))
        assert {"worker", "wrangler"} <= set(keys), entry.name
        assert streamed or {"sdk", "python", "curl"} <= set(keys), entry.name
        assert f'"{entry.name}"' in block(page, "snippet-worker")
        playground = task.playground(entry)
        if playground is None:
            assert 'data-testid="no-playground"' in page, entry.name
        else:
            assert 'data-testid="playground"' in page, entry.name
            for field in playground.context.get("fields", []):
                assert f'data-testid="field-{field.name}"' in page, (entry.name, field.name)
