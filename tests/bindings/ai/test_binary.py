import base64

import pytest

from bindings.ai.binary import CHUNK, AiBinary, as_bytes, binary_view, read_streams
from bindings.ai.catalogue import load_catalogue
from bindings.ai.errors import AiError


@pytest.mark.parametrize(
    "value",
    [b"\x00\xffPNG", bytearray(b"\x00\xffPNG"), [0, 255, 80, 78, 71],
     base64.b64encode(b"\x00\xffPNG").decode()],
)
def test_as_bytes_takes_what_the_schemas_allow(value):
    assert as_bytes(value) == b"\x00\xffPNG"


@pytest.mark.parametrize("value", [[256], [-1], ["a"], "not base64!", 3.5, None, {"a": 1}])
def test_anything_else_is_5004(value):
    with pytest.raises(AiError) as info:
        as_bytes(value, field="image")
    assert info.value.code == 5004 and info.value.status == 400
    assert str(info.value).startswith("5004: Invalid data type for base64 input")


async def test_ai_binary_streams_its_bytes_in_chunks():
    data = bytes(range(256)) * (CHUNK // 128)
    image = AiBinary(data, "image/png")
    chunks = [chunk async for chunk in image]
    assert len(chunks) == 2 and b"".join(chunks) == data == bytes(image)
    assert len(image) == len(data) and image == AiBinary(data, "image/png")
    assert "image/png" in repr(image)
    with pytest.raises(TypeError):
        AiBinary("text")  # type: ignore[arg-type]


def test_data_uris_stream_bodies_and_ai_binaries_are_bytes_too():
    assert as_bytes("data:image/png;base64," + base64.b64encode(b"PNG").decode()) == b"PNG"
    assert as_bytes({"body": [1, 2], "contentType": "audio/wav"}) == b"\x01\x02"
    assert as_bytes(AiBinary(b"mp3", "audio/mpeg")) == b"mp3"
    with pytest.raises(AiError, match="is a URL, and edge runs offline"):
        as_bytes("https://example.com/cat.png", field="image")


CATALOGUE = load_catalogue([])


@pytest.mark.parametrize(("model", "field", "stand_in"), [
    ("@cf/openai/whisper", "audio", [0]),  # a byte array
    ("@cf/openai/whisper-large-v3-turbo", "audio", "AA=="),  # base64
    ("@cf/deepgram/nova-3", "audio", {"body": {}, "contentType": "application/octet-stream"}),
])
def test_bytes_pass_validation_as_the_schemas_type_and_come_back(model, field, stand_in):
    data = b"\x00" * 100_000  # never turned into a list of integers
    view, restore = binary_view(CATALOGUE.get(model), {field: data, "other": 1})
    assert view == {field: stand_in, "other": 1}
    assert restore({field: stand_in}) == {field: data}  # only keys validation kept


def test_inputs_without_bytes_are_left_alone():
    inputs = {"prompt": "hi"}
    view, restore = binary_view(CATALOGUE.get("@cf/meta/llama-2-7b-chat-fp16"), inputs)
    assert view == inputs and restore(inputs) is inputs


async def test_streams_are_read_into_bytes():
    async def body():
        yield b"ab"
        yield bytearray(b"cd")

    inputs = {"multipart": {"body": body(), "contentType": "x"}, "audio": body(), "n": 1}
    read = await read_streams(inputs)
    assert read == {"multipart": {"body": b"abcd", "contentType": "x"}, "audio": b"abcd", "n": 1}
    plain = {"n": 1}
    assert await read_streams(plain) is plain
