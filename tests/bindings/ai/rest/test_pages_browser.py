"""The catalogue pages in headless Chromium (Debian's `chromium`, driven by playwright):
the index filters, a page shows every parameter, the playground streams a reply."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.rest import create_app
from bindings.ai.rest.schema_view import top_level
from tests.bindings.ai.rest.support import CHAT_MODEL, FP16_MODEL, TOKEN, scripted_service
from tests.fakes.loopback import LoopbackServer, serve

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPLY = "Hello, World! The phrase comes from a 1972 tutorial by Brian Kernighan."

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if CHROMIUM is None:
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    service = scripted_service()
    # slow enough that the page has to render the reply piece by piece
    service.set_engine("*", ScriptedEngine(text=REPLY, delay=0.03))
    with serve(create_app(service)) as running:
        yield running


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def test_index_lists_and_filters_models(page, server):
    from bindings.ai.catalogue import load_catalogue

    catalogue = load_catalogue()
    page.goto(f"{server.url}/")
    cards = page.locator("[data-testid=model-card]")
    assert cards.count() == len(catalogue)
    assert page.locator("[data-testid=model-card]:visible").count() == len(catalogue)
    page.fill("[data-testid=search]", "llama-2-13b-chat-awq")
    visible = page.locator("[data-testid=model-card]:visible")
    assert visible.count() == 1
    assert CHAT_MODEL in visible.inner_text()
    page.fill("[data-testid=search]", "no such words")
    assert page.locator("[data-testid=model-card]:visible").count() == 0
    assert page.locator("#empty").is_visible()
    page.fill("[data-testid=search]", "llama-2-7b-chat")
    page.select_option("[data-testid=task-filter]", "Text Generation")
    assert page.locator("[data-testid=model-card]:visible").count() == 3  # fp16, int8, hf-lora
    page.select_option("[data-testid=task-filter]", "Text Embeddings")
    assert page.locator("[data-testid=model-card]:visible").count() == 0
    page.fill("[data-testid=search]", "")
    assert page.locator("[data-testid=model-card]:visible").count() == 8
    page.select_option("[data-testid=task-filter]", "Text Generation")
    page.fill("[data-testid=search]", "fp16")
    page.click(f"text={FP16_MODEL}")
    page.wait_for_url(f"**/models/{FP16_MODEL}")
    assert page.locator("[data-testid=model-title]").inner_text().startswith("llama-2-7b-chat-fp16")


def test_model_page_shows_every_parameter(page, server):
    from bindings.ai.catalogue import load_catalogue

    entry = load_catalogue().get(CHAT_MODEL)
    page.goto(f"{server.url}/models/{CHAT_MODEL}")
    names = page.locator("[data-testid=input-params] [data-testid=param]")
    expected = [node.name for form in top_level(entry.input_schema) for node in form.walk()]
    assert names.count() == len(expected)
    shown = [names.nth(i).get_attribute("data-name") for i in range(names.count())]
    assert shown == expected
    for i in range(names.count()):
        assert names.nth(i).is_visible()
    assert "Worker - Streaming" in page.inner_text("[data-testid=snippet-worker-streaming]")


def test_playground_streams_the_reply(page, server, tmp_path):
    page.goto(f"{server.url}/models/{CHAT_MODEL}")
    # record every text the assistant bubble shows while the reply arrives
    page.evaluate(
        """() => {
        window.__seen = [];
        new MutationObserver(() => {
          const reply = document.querySelector("[data-testid=msg-assistant] .text");
          if (reply) window.__seen.push(reply.textContent);
        }).observe(document.getElementById("pg-transcript"),
                   {subtree: true, childList: true, characterData: true});
        }"""
    )
    page.fill("[data-testid=user]", "What is the origin of the phrase Hello, World?")
    page.click("[data-testid=send]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.includes('tokens')",
        timeout=20_000,
    )
    assert page.inner_text("[data-testid=msg-assistant] .text") == REPLY
    seen = [text for text in page.evaluate("window.__seen") if text]
    partial = {text for text in seen if text != REPLY}
    assert len(partial) >= 3, f"the reply was not rendered as it streamed: {seen}"
    assert all(REPLY.startswith(text) for text in partial)
    assert page.locator("[data-testid=msg-user]").inner_text().endswith("Hello, World?")
    page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)


def test_playground_shows_validation_errors(page, server):
    page.goto(f"{server.url}/models/{FP16_MODEL}")
    page.fill("[data-testid=temperature]", "9")
    page.fill("[data-testid=user]", "hi")
    page.click("[data-testid=send]")
    error = page.locator(".msg.error")
    error.wait_for(timeout=10_000)
    assert "5006" in error.inner_text() and "temperature" in error.inner_text()
    assert page.inner_text("[data-testid=status]") == "Failed"


def test_playground_sends_the_token(browser):
    service = scripted_service()
    with serve(create_app(service, api_token=TOKEN)) as secured:
        context = browser.new_context()
        page = context.new_page()
        refused = page.goto(f"{secured.url}/models/{FP16_MODEL}")
        assert refused.status == 401 and "?token=" in page.inner_text("body")
        # signing in once sets a cookie and drops the token from the address bar
        page.goto(f"{secured.url}/models/{FP16_MODEL}?token={TOKEN}")
        assert page.url == f"{secured.url}/models/{FP16_MODEL}"
        page.fill("[data-testid=user]", "with the cookie")
        page.click("[data-testid=send]")
        page.wait_for_function(
            "document.querySelector('[data-testid=status]').textContent.includes('tokens')",
            timeout=10_000,
        )
        assert page.locator("[data-testid=msg-assistant] .text").last.inner_text() == (
            "with the cookie"
        )
        # a wrong token typed into the field is still refused
        page.fill("[data-testid=token]", "wrong")
        page.fill("[data-testid=user]", "bad token")
        page.click("[data-testid=send]")
        page.locator(".msg.error").wait_for(timeout=10_000)
        assert "Authentication error" in page.inner_text(".msg.error")
        context.close()


# --- a sample of the other tasks: the generic playground ----------------------------------


def test_index_filters_by_any_task(page, server):
    from bindings.ai.catalogue import load_catalogue

    catalogue = load_catalogue()
    page.goto(f"{server.url}/")
    visible = page.locator("[data-testid=model-card]:visible")
    for task in ("Text-to-Image", "Automatic Speech Recognition", "Text Embeddings"):
        page.select_option("[data-testid=task-filter]", task)
        assert visible.count() == len(catalogue.matching(task=task)), task
        assert page.inner_text("#shown") == str(visible.count())
    page.fill("[data-testid=search]", "whisper")
    page.select_option("[data-testid=task-filter]", "Automatic Speech Recognition")
    names = {visible.nth(i).locator(".id").inner_text() for i in range(visible.count())}
    assert names == {"@cf/openai/whisper", "@cf/openai/whisper-tiny-en",
                     "@cf/openai/whisper-large-v3-turbo"}


def _run(page, server, model: str) -> None:
    page.goto(f"{server.url}/models/{model}")
    page.click("[data-testid=send]")
    page.wait_for_function(
        "/Done|Failed/.test(document.querySelector('[data-testid=status]').textContent)",
        timeout=20_000,
    )


def _decoded_width(page, selector: str) -> int:
    page.wait_for_function(f"document.querySelector('{selector}').complete", timeout=10_000)
    return page.evaluate(f"document.querySelector('{selector}').naturalWidth")


def test_text_to_image_shows_the_image(page, server):
    _run(page, server, "@cf/lykon/dreamshaper-8-lcm")  # raw PNG bytes
    image = "[data-testid=result-image]"
    assert page.get_attribute(image, "src").startswith("blob:")
    assert _decoded_width(page, image) > 0
    _run(page, server, "@cf/black-forest-labs/flux-1-schnell")  # base64 JPEG in JSON
    assert page.get_attribute(image, "src").startswith("data:image/jpeg;base64,")
    assert _decoded_width(page, image) > 0


@pytest.mark.parametrize(("model", "scheme"), [
    ("@cf/deepgram/aura-1", "blob:"),  # raw audio/mpeg
    ("@cf/myshell-ai/melotts", "data:audio/mpeg;base64,"),  # base64 in JSON
])
def test_text_to_speech_gives_an_audio_player(page, server, model, scheme):
    _run(page, server, model)
    audio = page.locator("[data-testid=result-audio]")
    assert audio.get_attribute("src").startswith(scheme)
    assert audio.evaluate("el => el.controls")


def test_file_inputs_are_sent_in_the_schemas_encoding(page, server, tmp_path):
    sound = tmp_path / "hello.mp3"
    sound.write_bytes(b"ID3\x04" + bytes(range(256)) * 8)
    page.goto(f"{server.url}/models/@cf/openai/whisper-large-v3-turbo")  # base64
    page.click("[data-testid=send]")
    page.locator(".msg.error").wait_for(timeout=10_000)
    assert "choose a file for audio" in page.inner_text("[data-testid=result-text]")
    page.set_input_files("#pf-field-audio", str(sound))
    page.click("[data-testid=send]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('Done')",
        timeout=20_000,
    )
    assert page.inner_text("[data-testid=result-text]") == REPLY  # the answer's text alone
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(bytes(range(256)))
    page.goto(f"{server.url}/models/@cf/microsoft/resnet-50")  # an array of bytes
    page.set_input_files("#pf-field-image", str(photo))
    page.click("[data-testid=send]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('Done')",
        timeout=20_000,
    )
    assert "Egyptian cat" in page.inner_text("[data-testid=result-json]")


def test_options_are_sent_and_validated(page, server):
    page.goto(f"{server.url}/models/@cf/lykon/dreamshaper-8-lcm")
    page.click("[data-testid=options] summary")
    page.fill("#pf-field-num_steps", "99")  # over the schema's maximum: the browser refuses
    page.click("[data-testid=send]")
    assert page.evaluate("document.getElementById('pf-field-num_steps').validity.rangeOverflow")
    assert page.inner_text("[data-testid=status]") == ""
    page.fill("#pf-field-num_steps", "5")
    page.fill("#pf-field-negative_prompt", "blurry")
    with page.expect_request("**/ai/run/**") as sent:
        page.click("[data-testid=send]")
    assert sent.value.post_data_json == {
        "prompt": "cyberpunk cat", "negative_prompt": "blurry", "num_steps": 5}
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('Done')")
    # what the browser lets through but the schema does not is the API's 5006
    page.fill("#pf-field-prompt", "")
    page.click("[data-testid=send]")
    page.locator(".msg.error").wait_for(timeout=10_000)
    error = page.inner_text("[data-testid=result-text]")
    assert "5006" in error and "prompt" in error
    assert page.inner_text("[data-testid=status]") == "Failed"


def test_text_tasks_show_their_answer(page, server):
    _run(page, server, "@cf/meta/m2m100-1.2b")
    assert page.inner_text("[data-testid=result-text]") == REPLY  # the scripted text
    assert '"translated_text"' in page.inner_text("[data-testid=result-json]")


def test_a_stream_input_model_explains_why_there_is_no_playground(page, server):
    page.goto(f"{server.url}/models/@cf/deepgram/nova-3")
    assert page.locator("[data-testid=no-playground]").is_visible()
    assert page.locator("[data-testid=playground]").count() == 0
