"""Workers calling image, audio and text models other than text generation, answered by
the scripted engine through the real binding path (as the page snippets write them)."""

import base64
import io
import textwrap

import pytest
from PIL import Image

from bindings.ai.tasks import media
from emulator.testing import load_worker
from emulator.testing.ai_script import output

WORKER = '''
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("/", 3)[3]
        if path == "image":
            image = await self.env.AI.run(
                "@cf/stabilityai/stable-diffusion-xl-base-1.0",
                {"prompt": "a cat", "width": 256, "height": 320})
            return Response(image, headers={"content-type": "image/png"})
        if path == "transcribe":  # the request's bytes, as Python bytes
            data = await request.bytes()
            return Response.json(await self.env.AI.run("@cf/openai/whisper", {"audio": data}))
        if path == "speak-and-listen":  # one model's audio straight into another
            speech = await self.env.AI.run("@cf/deepgram/aura-1", {"text": "one two three"})
            return Response.json(await self.env.AI.run("@cf/openai/whisper-large-v3-turbo",
                                                       {"audio": speech}))
        if path == "form":  # a FLUX.2 form passed on as the request's stream
            result = await self.env.AI.run("@cf/black-forest-labs/flux-2-dev", {"multipart": {
                "body": request.body, "contentType": request.headers.get("content-type")}})
            return Response.json(result)
        return Response.json(await self.env.AI.run("@cf/facebook/detr-resnet-50",
                                                   await request.bytes()))
'''


@pytest.fixture
def project(tmp_path):
    (tmp_path / "entry.py").write_text(textwrap.dedent(WORKER))
    (tmp_path / "wrangler.toml").write_text(
        'name = "ai"\nmain = "entry.py"\ncompatibility_date = "2025-06-01"\n'
        'compatibility_flags = ["python_workers"]\n[ai]\nbinding = "AI"\n'
    )
    return tmp_path


async def test_binary_results_go_into_responses_and_bytes_into_models(project):
    async with load_worker(project, ai={"*": "scripted text"}) as worker:
        image = await worker.fetch("/image")
        assert image.headers.get("content-type") == "image/png"
        assert Image.open(io.BytesIO(await image.bytes())).size == (256, 320)

        heard = await (await worker.fetch("/transcribe", body=media.wav(1.0))).json()
        assert heard["text"] == "scripted text"
        assert [w["word"] for w in heard["words"]] == ["scripted", "text"]
        assert heard["words"][-1]["end"] == 1.0

        chained = await (await worker.fetch("/speak-and-listen")).json()
        assert chained["transcription_info"]["duration"] == pytest.approx(1.05, abs=0.03)


async def test_a_form_stream_and_exact_outputs(project):
    script = {"@cf/black-forest-labs/flux-2-dev": "x",
              "@cf/facebook/detr-resnet-50": output([{"score": 0.5, "label": "cat", "box": {
                  "xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}}])}
    async with load_worker(project, ai=script) as worker:
        import httpx

        form = httpx.Request("POST", "http://x", files={"prompt": (None, "a cat"),
                                                        "width": (None, "64")})
        body = form.read()
        response = await worker.fetch("/form", method="POST", body=body,
                                      headers={"content-type": form.headers["content-type"]})
        image = base64.b64decode((await response.json())["image"])
        assert media.image_size(image) == (64, 1024)  # the height the form left out
        found = await (await worker.fetch("/detect", body=media.png(8, 8, (0, 0, 0)))).json()
        assert found == [{"score": 0.5, "label": "cat",
                          "box": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}}]
