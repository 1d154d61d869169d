"""Image-to-Text: an image (and a prompt) in, text about it out (developers.cloudflare.com/
workers-ai/models/llava-1.5-7b-hf, uform-gen2-qwen-500m, moondream3.1-9B-A2B):

* LLaVA, UForm (`image`: a byte array or binary string, `prompt`, `max_tokens`, ...;
  or the raw bytes on the REST API): `{"description"}`;
* Moondream (`task`: query, caption, point or detect; `image` as a base64 data URI):
  `{"finish_reason", "metrics", ...}` plus `answer` (query), `caption`, `points`
  (`[{"x", "y"}]`, 0-1 of the image) or `objects` (`[{"x_min", "y_min", "x_max",
  "y_max"}]`). Its `stream` (true by default) is not emulated: the answer comes whole.

Engine request (`TaskRequest.inputs`): `image` (bytes, or None: Moondream's query
takes none), `skill` ("describe" for LLaVA and UForm, else Moondream's task),
`prompt` (the prompt, question or target), `max_tokens`, `temperature`, `max_objects`.
Engine answer: `{"text"}`, `{"points"}` or `{"objects"}`. The scripted sample answers
the scripted text (echo: the image's type and size), one point at the centre, or one
box over the middle half.
"""

from __future__ import annotations

import time
from typing import Any

from bindings.ai.binary import as_bytes
from bindings.ai.engines.base import TaskRequest
from bindings.ai.tasks.base import IMAGE_FLAG, CliFlag, Task
from bindings.ai.tasks.image_classification import describe
from emulator.sdk.attrdict import wrap

PROMPT = "Generate a caption for this image"
#: Moondream's task -> its answer's key.
ANSWERS = {"query": "answer", "caption": "caption", "point": "points", "detect": "objects"}


class ImageToText(Task):
    name = "Image-to-Text"
    capability = "image-to-text"
    binary_input = "image"
    cli_needs = ("image", "prompt", "question")
    cli_flags = (
        IMAGE_FLAG,
        CliFlag("--prompt", "What to ask about the image (LLaVA, UForm)."),
        CliFlag("--max-tokens", "Most tokens to generate.", int),
    )

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        moondream = entry.accepts("caption_length")
        skill = inputs.get("task", "query") if moondream else "describe"
        prompt = {"query": inputs.get("question"), "point": inputs.get("target"),
                  "detect": inputs.get("target")}.get(skill, inputs.get("prompt"))
        image = inputs.get("image")
        request = {
            "image": None if image is None else as_bytes(image, field="image"),
            "skill": skill,
            "prompt": prompt,
            "max_tokens": inputs.get("max_tokens"),
            "temperature": inputs.get("temperature"),
            "max_objects": inputs.get("max_objects"),
        }
        return TaskRequest(entry.name, self.capability, request)

    async def run(self, entry: Any, engine: Any, request: TaskRequest) -> Any:
        started = time.perf_counter()
        output = await engine.infer(request)
        skill = request.inputs["skill"]
        if not isinstance(output, dict):
            return self.shape(entry, output)
        if skill == "describe":
            return wrap({"description": output.get("text", "")})
        elapsed = (time.perf_counter() - started) * 1000
        words = len(str(output.get("text", "")).split())
        key = ANSWERS[skill]
        return wrap({
            "finish_reason": "stop",
            "metrics": {"input_tokens": len(str(request.inputs.get("prompt") or "").split()),
                        "output_tokens": words, "prefill_time_ms": 0.0,
                        "decode_time_ms": elapsed, "ttft_ms": elapsed},
            key: output.get(key, output.get("text", "")),
        })

    def sample(self, request: TaskRequest, text: str | None) -> dict[str, Any]:
        inputs = request.inputs
        if inputs["skill"] == "point":
            return {"points": [{"x": 0.5, "y": 0.5}]}
        if inputs["skill"] == "detect":
            return {"objects": [{"x_min": 0.25, "y_min": 0.25, "x_max": 0.75, "y_max": 0.75}]}
        if text is None:
            image = inputs.get("image")
            text = f"A {describe(image)}." if image else "No image was given."
        return {"text": text}


    def cli_adapt(self, entry: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        if "prompt" in inputs and entry.accepts("question"):  # Moondream's name for it
            inputs["question"] = inputs.pop("prompt")
        return inputs

    def cli_output(self, result: Any) -> tuple[str, str | None]:
        for key in ("description", "answer", "caption"):
            if key in result:
                return result[key], None
        return super().cli_output(result)


TASK = ImageToText()
