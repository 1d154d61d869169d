"""`edge ai run` for tasks other than text generation: each task's input flags, files in,
images and audio out to a file."""

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from bindings.ai.tasks import media
from emulator.cli import main

SCRIPTED = ["--ai-route", "*=scripted"]


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGE_AI_ROUTES", raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def run(runner, *args):
    return runner.invoke(main, ["ai", "run", *args, *SCRIPTED], catch_exceptions=False)


def test_an_image_model_writes_its_png_to_the_output_file(runner, tmp_path):
    result = run(runner, "@cf/stabilityai/stable-diffusion-xl-base-1.0", "--prompt", "a cat",
                 "--width", "256", "--height", "320", "--steps", "4", "-o", "cat.png")
    assert result.exit_code == 0, result.output
    assert "bytes, image/png] written to cat.png" in result.stderr
    assert Image.open(tmp_path / "cat.png").size == (256, 320)


@pytest.mark.parametrize("model", ["@cf/black-forest-labs/flux-1-schnell",
                                   "@cf/black-forest-labs/flux-2-dev"])
def test_base64_images_are_saved_as_the_image_itself(runner, tmp_path, model):
    # flux-2 takes a multipart form: the CLI builds it from the same flags
    result = run(runner, model, "--prompt", "a cat", "--steps", "4", "-o", "cat.jpg")
    assert result.exit_code == 0, result.output
    image = Image.open(tmp_path / "cat.jpg")
    assert image.format == "JPEG"
    json_result = run(runner, model, "--prompt", "a cat", "--json")
    assert set(json.loads(json_result.stdout)) == {"image"}


def test_speech_recognition_reads_the_audio_file(runner, tmp_path):
    (tmp_path / "talk.wav").write_bytes(media.wav(2.0))
    result = run(runner, "@cf/openai/whisper", "--audio", "talk.wav")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Scripted transcript of 2.0 seconds of audio.\n"
    turbo = run(runner, "@cf/openai/whisper-large-v3-turbo", "--audio", "talk.wav", "--json")
    assert json.loads(turbo.stdout)["transcription_info"]["duration"] == 2.0
    nova = run(runner, "@cf/deepgram/nova-3", "--audio", "talk.wav")
    assert nova.stdout.startswith("Scripted transcript")


def test_text_to_speech_saves_audio(runner, tmp_path):
    aura = run(runner, "@cf/deepgram/aura-1", "--text", "hello there", "-o", "a.mp3")
    melo = run(runner, "@cf/myshell-ai/melotts", "--text", "hello there", "-o", "m.mp3")
    assert aura.exit_code == melo.exit_code == 0, aura.output + melo.output
    for name in ("a.mp3", "m.mp3"):
        data = (tmp_path / name).read_bytes()
        assert media.media_type(data) == "audio/mpeg"
        assert media.audio_seconds(data) == pytest.approx(0.7, abs=0.03)


@pytest.mark.parametrize(("args", "out"), [
    (["@cf/meta/m2m100-1.2b", "--text", "Hello", "--target-lang", "fr"], "Hello\n"),
    (["@cf/ai4bharat/indictrans2-en-indic-1B", "--text", "Hi", "--target-lang", "hin_Deva"],
     "Hi\n"),
    (["@cf/facebook/bart-large-cnn", "--text", "One. Two. Three.", "--max-length", "5"],
     "One. Two.\n"),
])
def test_text_tasks_print_their_text(runner, args, out):
    result = run(runner, *args)
    assert result.exit_code == 0, result.output
    assert result.stdout == out


def test_image_inputs_and_json_results(runner, tmp_path):
    (tmp_path / "cat.png").write_bytes(media.png(40, 30, (9, 9, 9)))
    detected = json.loads(run(runner, "@cf/facebook/detr-resnet-50", "--image", "cat.png").stdout)
    assert detected[0]["box"] == {"xmin": 10.0, "ymin": 7.5, "xmax": 30.0, "ymax": 22.5}
    caption = run(runner, "@cf/llava-hf/llava-1.5-7b-hf", "--image", "cat.png", "--prompt", "?")
    assert caption.stdout == "A PNG image 40x30.\n"


@pytest.mark.parametrize(("args", "fragment"), [
    (["@cf/openai/whisper"], "give --audio"),
    (["@cf/openai/whisper", "--prompt", "x"], "--prompt do(es) not apply to @cf/openai/whisper"),
    (["@cf/meta/llama-2-7b-chat-fp16", "--audio", "x.mp3"], "--audio do(es) not apply"),
])
def test_usage_errors(runner, tmp_path, args, fragment):
    (tmp_path / "x.mp3").write_bytes(media.mp3(0.1))
    result = run(runner, *args)
    assert result.exit_code == 2
    assert fragment in result.stderr
