"""The usage snippets of tasks other than text generation run as shown: files read and
sent in the schema's encoding, binary answers saved (stand-in tasks answer)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from bindings.ai.rest import create_app
from bindings.ai.tasks.snippets import py_literal
from tests.bindings.ai.rest.support import PNG, TOKEN, scripted_service, stand_in_tasks
from tests.fakes.loopback import LoopbackServer, serve

AUDIO = b"ID3\x04" + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with pytest.MonkeyPatch.context() as patch:
        stand_in_tasks(patch)
        with serve(create_app(scripted_service(), api_token=TOKEN)) as running:
            yield running


def snippet(server, model: str, key: str) -> str:
    signed = {"authorization": f"Bearer {TOKEN}"}  # the pages need the token too
    page = httpx.get(f"{server.url}/models/{model}", headers=signed).text
    match = re.search(rf'data-testid="snippet-{key}".*?<code[^>]*>(.*?)</code>', page, re.S)
    assert match, f"{model} has no {key} snippet"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))


def run(code: list[str], folder) -> subprocess.CompletedProcess:
    (folder / "input.jpg").write_bytes(PNG)
    (folder / "input.mp3").write_bytes(AUDIO)
    env = {**os.environ, "CLOUDFLARE_AUTH_TOKEN": TOKEN, "CLOUDFLARE_ACCOUNT_ID": "abc"}
    done = subprocess.run(code, capture_output=True, text=True, timeout=60, env=env, cwd=folder)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("key", ["sdk", "python"])
def test_python_snippets_send_the_image_file(server, tmp_path, key):
    code = snippet(server, "@cf/microsoft/resnet-50", key)
    assert 'open("input.jpg", "rb")' in code
    done = run([sys.executable, "-c", code], tmp_path)
    assert f"{len(PNG)} bytes" in done.stdout  # the stand-in counts what arrived


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(("model", "expected"), [
    ("@cf/openai/whisper-large-v3-turbo", f"heard {len(AUDIO)} bytes"),  # base64
    ("@cf/openai/whisper", f"heard {len(AUDIO)} bytes"),  # a byte array
])
def test_curl_snippet_sends_the_audio_file(server, tmp_path, model, expected):
    code = snippet(server, model, "curl").strip()
    done = run(["bash", "-c", code + " --silent --show-error"], tmp_path)
    assert expected in done.stdout


@pytest.mark.parametrize("key", ["sdk", "python"])
def test_binary_answers_are_saved_to_a_file(server, tmp_path, key):
    code = snippet(server, "@cf/deepgram/aura-1", key)
    run([sys.executable, "-c", code], tmp_path)
    assert (tmp_path / "output.mp3").read_bytes().startswith(b"ID3")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_saves_a_generated_image(server, tmp_path):
    code = snippet(server, "@cf/stabilityai/stable-diffusion-xl-base-1.0", "curl").strip()
    assert "--output output.png" in code
    run(["bash", "-c", code + " --silent --show-error"], tmp_path)
    assert (tmp_path / "output.png").read_bytes() == PNG


def test_worker_snippet_reads_the_posted_file(server):
    code = snippet(server, "@cf/openai/whisper-large-v3-turbo", "worker")
    assert "data = await request.bytes()" in code
    assert '"audio": base64.b64encode(data).decode(),' in code
    streamed = snippet(server, "@cf/deepgram/nova-3", "worker")
    assert '"body": request.body' in streamed


def test_py_literal_writes_code_verbatim():
    from bindings.ai.tasks.snippets import Code

    assert py_literal({"a": Code("list(data)"), "b": "x"}) == (
        '{\n    "a": list(data),\n    "b": "x",\n}')
