"""The sample files are real files (Pillow decodes the images), and the readers read them."""

import io

import pytest
from PIL import Image

from bindings.ai.tasks import media


@pytest.mark.parametrize(("width", "height"), [(1, 1), (8, 8), (33, 17), (1024, 1024)])
def test_png_and_jpeg_decode_to_the_asked_size_and_colour(width, height):
    png = Image.open(io.BytesIO(media.png(width, height, (10, 200, 30))))
    assert (png.format, png.size, png.getpixel((width - 1, height - 1))) == (
        "PNG", (width, height), (10, 200, 30))
    for grey in (0, 3, 127, 128, 200, 255):
        jpeg = Image.open(io.BytesIO(media.jpeg(width, height, grey)))
        jpeg.load()
        assert (jpeg.format, jpeg.size, jpeg.getextrema()) == ("JPEG", (width, height),
                                                               (grey, grey))


def test_image_sizes_and_types_are_read_from_headers():
    assert media.image_size(media.png(5, 7, (0, 0, 0))) == (5, 7)
    assert media.image_size(media.jpeg(100, 60, 9)) == (100, 60)
    gif = io.BytesIO()
    Image.new("RGB", (12, 34)).save(gif, "GIF")
    webp = io.BytesIO()
    Image.new("RGB", (21, 13)).save(webp, "WEBP")
    assert media.image_size(gif.getvalue()) == (12, 34)
    assert media.image_size(webp.getvalue()) == (21, 13)
    assert media.media_type(webp.getvalue()) == "image/webp"
    assert media.image_size(b"not an image") is None
    assert media.media_type(b"???", "image/png") == "image/png"


def test_audio_durations():
    assert media.audio_seconds(media.wav(1.5, 16000)) == 1.5
    assert media.audio_seconds(media.mp3(2.0)) == pytest.approx(2.0, abs=0.03)
    tagged = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10) + media.mp3(1.0)
    assert media.audio_seconds(tagged) == pytest.approx(1.0, abs=0.03)
    assert media.media_type(tagged) == "audio/mpeg"
    assert media.media_type(media.wav(0.1)) == "audio/wav"
    assert media.audio_seconds(b"RIFF....WAVEbroken") is None
    assert media.audio_seconds(b"plain bytes") is None


def test_samples_follow_their_seed():
    assert media.digest("a") == media.digest("a") != media.digest("b")
    assert 0 <= media.unit("anything") < 1
