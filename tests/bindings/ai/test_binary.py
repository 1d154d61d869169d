import base64

import pytest

from bindings.ai.binary import CHUNK, AiBinary, as_bytes
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
