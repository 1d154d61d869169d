"""`POST /client/v4/accounts/{account_id}/ai/run/{model}`: Workers AI's REST run endpoint.

As documented at https://developers.cloudflare.com/workers-ai/get-started/rest-api/ and
in the API reference ("Execute AI model"): the body is the model's inputs, unwrapped;
the answer is the v4 envelope around the same result `env.AI.run` returns, and with
`"stream": true` the raw SSE stream (`data: {"response": ...}` ... `data: [DONE]`)
instead of an envelope; models whose output is binary (images, audio) answer the raw
bytes with their content type (`image/png`, `audio/mpeg`), no envelope either.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bindings.ai.binary import AiBinary
from bindings.ai.rest.envelope import read_json_object, success
from bindings.ai.rest.sse import SSEResponse


async def run_model(request: Request) -> Response:
    state = request.app.state
    model: str = request.path_params["model"]
    inputs = await read_json_object(request, state.max_body_bytes)
    result: Any = await state.service.run(model, inputs)
    if isinstance(result, AiBinary):
        # As a header, not `media_type`: Starlette would add a charset to text/* types.
        return Response(result.data, headers={"content-type": result.media_type})
    if _is_stream(result):
        return SSEResponse(_frames(result), on_close=result.aclose)
    return success(result)


def _is_stream(result: Any) -> bool:
    # An AiStream iterates SSE frames; a finished result is a (dict) AttrDict.
    return not isinstance(result, dict) and hasattr(result, "__aiter__")


async def _frames(stream: Any):
    async for chunk in stream:
        yield chunk if isinstance(chunk, bytes) else str(chunk).encode()
