"""Example inputs derived from input schemas: every catalogue model's is valid input."""

from __future__ import annotations

import pytest

from bindings.ai.catalogue import load_catalogue
from bindings.ai.tasks import get_task
from bindings.ai.tasks.base import Task
from bindings.ai.tasks.examples import FileInput, example_inputs, files_in, with_files
from bindings.ai.validation import validate_inputs

CATALOGUE = load_catalogue()


def filled(example):
    """The example as JSON input: files as 40 bytes; a stream as the object a Worker sends."""
    streams = {f for f in files_in(example) if f.streamed}
    if streams:
        example = {k: {"body": {}, "contentType": v.media_type} if v in streams else v
                   for k, v in example.items()}
    return with_files(example, bytes(range(40)))


def test_every_models_example_is_valid_input_for_it():
    for entry in CATALOGUE:
        example = (get_task(entry.task_name) or Task()).example_inputs(entry)
        assert example or not entry.input_schema, f"{entry.name}: an empty example"
        validate_inputs(entry, filled(example))  # raises 5006 naming the model's problem


@pytest.mark.parametrize(
    ("model", "key", "file"),
    [
        ("@cf/microsoft/resnet-50", "image", FileInput("image", "bytes")),
        ("@cf/facebook/detr-resnet-50", "image", FileInput("image", "bytes")),
        ("@cf/openai/whisper", "audio", FileInput("audio", "bytes")),
        ("@cf/openai/whisper-large-v3-turbo", "audio", FileInput("audio", "base64")),
        ("@cf/moondream/moondream3.1-9B-A2B", "image", FileInput("image", "data_uri")),
        ("@cf/deepgram/nova-3", "audio", FileInput("audio", "stream")),
        ("@cf/black-forest-labs/flux-2-dev", "multipart", FileInput("form", "stream")),
    ],
)
def test_images_and_audio_become_file_inputs_in_the_schemas_encoding(model, key, file):
    assert example_inputs(CATALOGUE.get(model).input_schema)[key] == file


def test_file_values_in_each_encoding():
    data = b"\x00\xffab"
    assert FileInput("image", "bytes").value(data) == [0, 255, 97, 98]
    assert FileInput("audio", "base64").value(data) == "AP9hYg=="
    assert FileInput("image", "data_uri").value(data) == "data:image/jpeg;base64,AP9hYg=="
    with pytest.raises(ValueError, match="stream"):
        FileInput("audio", "stream").value(data)


def test_required_only_with_defaults_enums_and_patterns():
    schema = {
        "type": "object",
        "required": ["text", "lang", "rate", "steps", "model", "questions", "n"],
        "properties": {
            "text": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "lang": {"type": "string", "enum": ["en", "fr"]},
            "rate": {"type": "string", "pattern": "^[0-9]+$"},
            "steps": {"type": "integer", "default": 4},
            "model": {"type": "string", "pattern": "^(clef|clef-flash)$"},
            "questions": {"type": "object", "minProperties": 1,
                          "additionalProperties": {"type": "string"}},
            "n": {"type": "number", "minimum": 2},
            "optional": {"type": "string"},
        },
    }
    assert example_inputs(schema) == {
        "text": "I love this movie, it made my day!", "lang": "en", "rate": "16000", "steps": 4,
        "model": "clef", "questions": {"question_1": "What is in this image?"}, "n": 3,
    }


def test_a_form_with_nothing_required_shows_its_main_input():
    schema = {"oneOf": [{"type": "string", "format": "binary"},
                        {"type": "object", "properties": {
                            "top_k": {"type": "integer"},
                            "image": {"type": "array", "items": {"type": "number"}}}}]}
    assert example_inputs(schema) == {"image": FileInput("image", "bytes")}
    assert example_inputs({}) == {}
