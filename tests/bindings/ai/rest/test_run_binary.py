"""The REST run endpoint with files: raw bodies in (as Cloudflare's curl snippets send
them), raw bytes with their content type out."""

from __future__ import annotations

import base64

import httpx
import pytest

from bindings.ai.rest import create_app
from bindings.ai.tasks import media
from tests.bindings.ai.rest.support import run_url, scripted_service


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=create_app(scripted_service()))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


async def test_a_raw_audio_body_is_the_models_audio_whatever_the_content_type(client):
    # curl --data-binary labels the body application/x-www-form-urlencoded
    response = await client.post(run_url("", "@cf/openai/whisper"), content=media.mp3(3.0),
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["text"] == "Scripted transcript of 3.0 seconds of audio."
    assert result["word_count"] == 7 and result["words"][-1]["end"] == pytest.approx(3.0, 0.01)
    assert result["vtt"].startswith("WEBVTT\n\n00:00:00.000 --> ")


async def test_a_raw_image_body_and_json_bodies_both_work(client):
    png = media.png(10, 20, (1, 2, 3))
    raw = await client.post(run_url("", "@cf/microsoft/resnet-50"), content=png)
    as_json = await client.post(run_url("", "@cf/microsoft/resnet-50"), json={"image": list(png)})
    assert raw.json()["result"] == as_json.json()["result"]
    assert raw.json()["result"][0] == {"label": "PNG image 10x20", "score": 0.9}


async def test_binary_outputs_are_raw_bytes_with_their_type(client):
    image = await client.post(run_url("", "@cf/stabilityai/stable-diffusion-xl-base-1.0"),
                              json={"prompt": "cat", "width": 256, "height": 256})
    assert image.headers["content-type"] == "image/png"
    assert media.image_size(image.content) == (256, 256)
    speech = await client.post(run_url("", "@cf/deepgram/aura-1"), json={"text": "hi there"})
    assert speech.headers["content-type"] == "audio/mpeg"
    assert media.audio_seconds(speech.content) == pytest.approx(0.7, abs=0.03)


async def test_a_multipart_form_goes_to_flux_2_as_its_multipart_input(client):
    fields = {"prompt": (None, "cat"), "width": (None, "64"), "height": (None, "96")}
    response = await client.post(run_url("", "@cf/black-forest-labs/flux-2-dev"), files=fields)
    assert response.status_code == 200
    assert media.image_size(base64.b64decode(response.json()["result"]["image"])) == (64, 96)


async def test_bad_bodies_are_cloudflare_errors_not_500s(client):
    text_model = await client.post(run_url("", "@cf/meta/llama-2-7b-chat-fp16"),
                                   content=b"\x89PNG not json")
    assert text_model.status_code == 400 and "malformed JSON" in text_model.text
    broken = await client.post(run_url("", "@cf/openai/whisper"), content=b"{not json")
    assert broken.status_code == 400 and "malformed JSON" in broken.text
    empty_form = await client.post(run_url("", "@cf/black-forest-labs/flux-2-dev"),
                                   files={"width": (None, "64")})
    assert empty_form.status_code == 400
    assert empty_form.json()["errors"][0]["code"] == 5006
