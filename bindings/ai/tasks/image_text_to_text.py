"""Image-Text-to-Text: chat with images, answered as an OpenAI chat completion
(developers.cloudflare.com/workers-ai/models/qwen3.8-27b): `prompt` or `messages`
(content parts may carry `image_url`s) in; `{"id", "object": "chat.completion",
"created", "model", "choices": [{"index", "message": {"role", "content"},
"finish_reason"}], "usage"}` out. `stream: true` is not emulated: the answer comes
whole.

Engine request (`TaskRequest.inputs`): `messages` (a bare prompt becomes one user
turn), `max_tokens`, `temperature`, `top_p`. Engine answer: the reply text. The
scripted sample is the scripted text, or (echo) the last user message's text parts.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bindings.ai.engines.base import TaskRequest
from bindings.ai.errors import bad_input
from bindings.ai.tasks.base import IMAGE_FLAG, CliFlag, Task
from emulator.sdk.attrdict import wrap


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content
                        if isinstance(part, dict) and part.get("type") == "text")
    return ""


class ImageTextToText(Task):
    name = "Image-Text-to-Text"
    capability = "image-text-to-text"
    cli_needs = ("prompt", "messages")
    cli_flags = (
        CliFlag("--prompt", "The prompt (one user turn, or verbatim with --raw)."),
        IMAGE_FLAG,
        CliFlag("--max-tokens", "Most tokens to generate.", int),
    )

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        if "requests" in inputs:
            raise bad_input("Error: batch 'requests' (the async queue) are not emulated; "
                            "send each request on its own")
        if "messages" not in inputs and "prompt" not in inputs:
            # e.g. an empty prompt: valid only as the batch form, which then holds nothing
            raise bad_input("Error: required properties at '/' are 'prompt' or 'messages'")
        messages = inputs.get("messages") or [{"role": "user", "content": inputs["prompt"]}]
        request = {"messages": [dict(m) for m in messages],
                   "max_tokens": inputs.get("max_completion_tokens", inputs.get("max_tokens")),
                   "temperature": inputs.get("temperature"), "top_p": inputs.get("top_p")}
        return TaskRequest(entry.name, self.capability, request)

    async def run(self, entry: Any, engine: Any, request: TaskRequest) -> Any:
        text = await engine.infer(request)
        if not isinstance(text, str):
            return self.shape(entry, text)
        prompt = sum(len(_text(m.get("content")).split()) for m in request.inputs["messages"])
        completion = len(text.split())
        return wrap({
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": entry.name,
            "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text, "refusal": None}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        })

    def sample(self, request: TaskRequest, text: str | None) -> str:
        if text is not None:
            return text
        users = [m for m in request.inputs["messages"] if m.get("role") == "user"]
        return _text(users[-1].get("content")) if users else ""

    def cli_adapt(self, entry: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        image = inputs.pop("image", None)
        if image is None:
            return inputs
        import base64

        from bindings.ai.tasks.media import media_type

        url = f"data:{media_type(image)};base64,{base64.b64encode(image).decode()}"
        parts = [{"type": "text", "text": inputs.pop("prompt", "Describe this image.")},
                 {"type": "image_url", "image_url": {"url": url}}]
        return {**inputs, "messages": [{"role": "user", "content": parts}]}

    def cli_output(self, result: Any) -> tuple[str, str | None]:
        return result.choices[0].message.content, None


TASK = ImageTextToText()
