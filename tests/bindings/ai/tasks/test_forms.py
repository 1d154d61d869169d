"""The generic playground form, from input schemas of the catalogue's tasks."""

from __future__ import annotations

from bindings.ai.catalogue import load_catalogue
from bindings.ai.tasks import get_task
from bindings.ai.tasks.base import Task
from bindings.ai.tasks.forms import TEMPLATE, output_kind

CATALOGUE = load_catalogue()


def form(model: str):
    entry = CATALOGUE.get(model)
    return (get_task(entry.task_name) or Task()).playground(entry)


def by_name(fields):
    return {f.name: f for f in fields}


def test_text_to_image_form():
    found = form("@cf/lykon/dreamshaper-8-lcm")
    assert found.template == TEMPLATE
    fields, options = by_name(found.context["fields"]), by_name(found.context["options"])
    assert list(fields) == ["prompt"]
    assert fields["prompt"].widget == "textarea" and fields["prompt"].required
    assert fields["prompt"].value == "cyberpunk cat"
    assert options["num_steps"].widget == "integer" and options["num_steps"].facts["max"] == 20
    assert (options["image"].widget, options["image"].encoding) == ("file", "bytes")
    assert (options["image_b64"].encoding, options["image"].accept) == ("base64", "image/*")
    assert options["guidance"].widget == "number"
    assert found.context["output"]["binary"] == "image/png"


def test_file_enum_and_boolean_fields():
    fields = by_name(form("@cf/openai/whisper-large-v3-turbo").context["fields"])
    assert (fields["audio"].widget, fields["audio"].encoding) == ("file", "base64")
    options = by_name(form("@cf/openai/whisper-large-v3-turbo").context["options"])
    assert options["task"].widget in ("select", "text")
    flux = by_name(form("@cf/deepgram/flux").context["fields"])
    assert flux["encoding"].widget == "select" and "linear16" in flux["encoding"].options
    nova = form("@cf/moondream/moondream3.1-9B-A2B").context
    assert by_name(nova["options"])["reasoning"].widget == "checkbox"
    assert by_name(nova["fields"])["image"].encoding == "data_uri"


def test_a_stream_input_has_no_playground():
    assert form("@cf/deepgram/nova-3") is None
    assert form("@cf/black-forest-labs/flux-2-dev") is None


def test_output_kinds():
    assert output_kind(CATALOGUE.get("@cf/deepgram/aura-1"))["binary"] == "audio/mpeg"
    melo = output_kind(CATALOGUE.get("@cf/myshell-ai/melotts"))
    assert melo["audio"] == "audio" and melo["binary"] == "audio/mpeg"
    assert output_kind(CATALOGUE.get("@cf/black-forest-labs/flux-1-schnell"))["image"] == "image"
    assert output_kind(CATALOGUE.get("@cf/facebook/bart-large-cnn"))["text"] == ["summary"]
    assert output_kind(CATALOGUE.get("@cf/microsoft/resnet-50")) == {
        "binary": "", "image": "", "audio": "", "text": []}


def test_every_model_with_a_sendable_input_has_a_playground():
    missing = [entry.name for entry in CATALOGUE if form(entry.name) is None]
    assert sorted(missing) == sorted([
        "@cf/deepgram/nova-3",
        "@cf/black-forest-labs/flux-2-dev", "@cf/black-forest-labs/flux-2-klein-4b",
        "@cf/black-forest-labs/flux-2-klein-9b",
    ])
