"""`POST /client/v4/accounts/{account_id}/ai/run/{model}`: Workers AI's REST run endpoint.

As documented at https://developers.cloudflare.com/workers-ai/get-started/rest-api/ and
in the API reference ("Execute AI model"): the body is the model's inputs, unwrapped;
the answer is the v4 envelope around the same result `env.AI.run` returns, and with
`"stream": true` the raw SSE stream (`data: {"response": ...}` ... `data: [DONE]`)
instead of an envelope; models whose output is binary (images, audio) answer the raw
bytes with their content type (`image/png`, `audio/mpeg`), no envelope either.

Models that take a file take it as the raw body too, as Cloudflare's curl snippets send
it (`--data-binary @talking-llama.mp3` for Whisper, an image for ResNet and DETR): a
body that is not a JSON object goes to the task's `binary_input`, whatever the content
type says (curl labels such bodies `application/x-www-form-urlencoded`). FLUX.2 models
take a `multipart/form-data` body (`curl --form prompt=...`) as their `multipart` input.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bindings.ai.binary import AiBinary
from bindings.ai.rest.envelope import (
    parse_json_object,
    read_body,
    read_json_object,
    success,
)
from bindings.ai.rest.sse import SSEResponse
from bindings.ai.tasks import get_task


async def run_model(request: Request) -> Response:
    state = request.app.state
    model: str = request.path_params["model"]
    result: Any = await state.service.run(model, await _inputs(request, model))
    if isinstance(result, AiBinary):
        # As a header, not `media_type`: Starlette would add a charset to text/* types.
        return Response(result.data, headers={"content-type": result.media_type})
    if _is_stream(result):
        return SSEResponse(_frames(result), on_close=result.aclose)
    return success(result)


async def _inputs(request: Request, model: str) -> Any:
    state = request.app.state
    entry = state.service.catalogue.get(model)
    task = get_task(entry.task_name)
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "multipart/form-data" and entry.accepts(
            "multipart"):
        raw = await read_body(request, state.max_body_bytes)
        return {"multipart": {"body": raw, "contentType": content_type}}
    if task is None or task.binary_input is None:
        return await read_json_object(request, state.max_body_bytes)
    raw = await read_body(request, state.max_body_bytes)
    if raw.lstrip()[:1] == b"{":
        return parse_json_object(raw)
    return raw


def _is_stream(result: Any) -> bool:
    # An AiStream iterates SSE frames; a finished result is a (dict) AttrDict.
    return not isinstance(result, dict) and hasattr(result, "__aiter__")


async def _frames(stream: Any):
    async for chunk in stream:
        yield chunk if isinstance(chunk, bytes) else str(chunk).encode()
