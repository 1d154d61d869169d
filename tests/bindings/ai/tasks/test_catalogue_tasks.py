"""Every catalogue model of every task but text generation (and embeddings): valid inputs
get an answer shaped as the record's output schema says, invalid ones a 5006 that never
reaches an engine, and a route to an engine without the task a 5007 saying how to route."""

from __future__ import annotations

import base64
import io
import json

import jsonschema
import pytest
from PIL import Image

from bindings.ai.binary import AiBinary
from bindings.ai.catalogue import load_catalogue
from bindings.ai.engines.scripted import ScriptedEngine
from bindings.ai.errors import AiError
from bindings.ai.routing import RouteLayer, RouteTable, parse_routes
from bindings.ai.service import AiService
from bindings.ai.tasks import media
from emulator.sdk.formdata import FormData
from emulator.sdk.response import encode_multipart

PNG = media.png(64, 48, (200, 10, 10))
WAV = media.wav(1.0, 16000)
MP3 = media.mp3(2.0)


def _flux2_form() -> dict:
    form = FormData()
    for key, value in (("prompt", "a cat"), ("width", "256"), ("height", "320")):
        form.append(key, value)
    body, content_type = encode_multipart(form)
    return {"multipart": {"body": body, "contentType": content_type}}


SD = {"prompt": "a cat", "width": 256, "height": 320}
#: model -> valid inputs, as a worker would send them.
VALID = {
    "@cf/black-forest-labs/flux-1-schnell": {"prompt": "a cat", "steps": 4},
    "@cf/black-forest-labs/flux-2-dev": _flux2_form(),
    "@cf/black-forest-labs/flux-2-klein-4b": _flux2_form(),
    "@cf/black-forest-labs/flux-2-klein-9b": _flux2_form(),
    "@cf/bytedance/stable-diffusion-xl-lightning": SD,
    "@cf/leonardo/lucid-origin": {"prompt": "a cat", "width": 256, "height": 320},
    "@cf/leonardo/phoenix-1.0": {"prompt": "a cat", "width": 256, "height": 320},
    "@cf/lykon/dreamshaper-8-lcm": SD,
    "@cf/runwayml/stable-diffusion-v1-5-img2img": {**SD, "image": list(PNG)},
    "@cf/runwayml/stable-diffusion-v1-5-inpainting": {**SD, "image": list(PNG),
                                                      "mask": list(PNG)},
    "@cf/stabilityai/stable-diffusion-xl-base-1.0": SD,
    "@cf/openai/whisper": {"audio": list(WAV)},
    "@cf/openai/whisper-tiny-en": {"audio": list(MP3)},
    "@cf/openai/whisper-large-v3-turbo": {"audio": base64.b64encode(WAV).decode()},
    "@cf/deepgram/nova-3": {"audio": {"body": MP3, "contentType": "audio/mpeg"}},
    "@cf/deepgram/aura-1": {"text": "Hello there, world"},
    "@cf/deepgram/aura-2-en": {"text": "Hello there", "encoding": "linear16",
                               "container": "wav"},
    "@cf/deepgram/aura-2-es": {"text": "Hola", "speaker": "sirio"},
    "@cf/myshell-ai/melotts": {"prompt": "Hello there", "lang": "en"},
    "@cf/llava-hf/llava-1.5-7b-hf": {"image": list(PNG), "prompt": "What is it?"},
    "@cf/unum/uform-gen2-qwen-500m": {"image": list(PNG), "prompt": "What is it?"},
    "@cf/moondream/moondream3.1-9B-A2B": {
        "task": "detect", "target": "cat",
        "image": "data:image/png;base64," + base64.b64encode(PNG).decode()},
    "@cf/qwen/qwen3.8-27b": {"messages": [{"role": "user", "content": "Hi there"}]},
    "@cf/meta/m2m100-1.2b": {"text": "Hello", "source_lang": "en", "target_lang": "fr"},
    "@cf/ai4bharat/indictrans2-en-indic-1B": {"text": ["Hello", "Bye"],
                                              "target_language": "hin_Deva"},
    "@cf/facebook/bart-large-cnn": {"input_text": "One. Two. Three.", "max_length": 5},
    "@cf/huggingface/distilbert-sst-2-int8": {"text": "What a lovely day"},
    "@cf/baai/bge-reranker-base": {"query": "cyberpunk cat", "top_k": 1,
                                   "contexts": [{"text": "a lizard"}, {"text": "a cat"}]},
    "@cf/microsoft/resnet-50": {"image": list(PNG)},
    "@cf/facebook/detr-resnet-50": {"image": list(PNG)},
    "@cf/pipecat-ai/smart-turn-v2": {"audio": base64.b64encode(bytes(6400 * 4)).decode(),
                                     "dtype": "float32"},
}
#: model -> inputs its schema refuses.
INVALID = {
    "@cf/openai/whisper": {"audio": "not an array"},
    "@cf/openai/whisper-large-v3-turbo": {"language": "en"},
    "@cf/deepgram/aura-1": {"text": "Hi", "speaker": "nobody"},
    "@cf/myshell-ai/melotts": {"text": "Hi"},
    "@cf/meta/m2m100-1.2b": {"text": "Hello"},
    "@cf/facebook/bart-large-cnn": {"input_text": ""},
    "@cf/baai/bge-reranker-base": {"query": "q", "contexts": [], "top_k": 0},
    "@cf/microsoft/resnet-50": {"image": "zzz"},
    "@cf/pipecat-ai/smart-turn-v2": {"audio": "AAAA", "dtype": "int7"},
    "@cf/black-forest-labs/flux-2-dev": {"prompt": "a cat"},
    "@cf/qwen/qwen3.8-27b": {"prompt": ""},
}
OTHER = {"@cf/deepgram/flux"}  # WebSocket only: refused with a 5006 saying so
SKIP_TASKS = {"Text Generation", "Text Embeddings"}


def test_every_model_of_these_tasks_has_test_inputs():
    catalogue = load_catalogue([])
    names = {e.name for e in catalogue.entries() if e.task_name not in SKIP_TASKS}
    assert names == set(VALID) | OTHER


def service(*routes: str) -> AiService:
    table = RouteTable([RouteLayer("--ai-route", tuple(parse_routes(list(routes))))])
    return AiService(load_catalogue([]), table)


def output_schema(entry) -> dict:
    schema = json.loads(json.dumps(entry.json_output()))
    if entry.name == "@cf/openai/whisper-large-v3-turbo":
        # The record says `object`; workers-types (and the model) give a list of segments.
        segment = schema["properties"]["segments"]
        schema["properties"]["segments"] = {"type": "array", "items": segment}
    return schema


@pytest.mark.parametrize("model", sorted(VALID))
async def test_scripted_answers_match_the_output_schema(model):
    svc = service("*=scripted")
    entry = svc.catalogue.get(model)
    result = await svc.run(model, VALID[model])
    if isinstance(result, AiBinary):
        assert result.media_type == entry.binary_output() or (
            result.media_type == "audio/wav" and VALID[model].get("encoding") == "linear16")
        check_media(result.data, result.media_type, VALID[model])
        return
    jsonschema.validate(json.loads(json.dumps(result)), output_schema(entry))
    if "image" in result and entry.task_name == "Text-to-Image":
        check_media(base64.b64decode(result.image), "image/jpeg", VALID[model])
    if "audio" in result:
        check_media(base64.b64decode(result.audio), "audio/mpeg", VALID[model])


def check_media(data: bytes, media_type: str, inputs: dict) -> None:
    assert media.media_type(data) == media_type
    if media_type.startswith("image/"):
        image = Image.open(io.BytesIO(data))
        image.load()
        assert image.format == {"image/png": "PNG", "image/jpeg": "JPEG"}[media_type]
        if "width" in inputs or "multipart" in inputs:
            assert image.size == (256, 320)
    else:
        assert (media.audio_seconds(data) or 0) > 0.1


@pytest.mark.parametrize("model", sorted(INVALID))
async def test_schema_violations_are_5006_and_never_reach_the_engine(model):
    svc = service()
    engine = ScriptedEngine()
    svc.set_engine("*", engine)
    with pytest.raises(AiError) as info:
        await svc.run(model, INVALID[model])
    assert info.value.code == 5006, str(info.value)
    assert engine.requests == []


@pytest.mark.parametrize("model", ["@cf/openai/whisper", "@cf/leonardo/phoenix-1.0",
                                   "@cf/microsoft/resnet-50", "@cf/meta/m2m100-1.2b"])
async def test_without_an_engine_for_the_task_a_5007_says_how_to_route(model):
    svc = service()  # the default route: the embedded text-generation stand-in
    with pytest.raises(AiError) as info:
        await svc.run(model, VALID[model])
    error = info.value
    assert error.code == 5007 and error.status == 400
    task = svc.catalogue.get(model).task_name
    assert f"{model} is a {task} model" in str(error)
    assert "no local engine of edge runs" in str(error)
    assert f"--ai-route '{model}=scripted'" in str(error)


async def test_deepgram_flux_is_websocket_only():
    svc = service("*=scripted")
    with pytest.raises(AiError, match="WebSocket") as info:
        await svc.run("@cf/deepgram/flux", {"encoding": "linear16", "sample_rate": "16000"})
    assert info.value.code == 5006
