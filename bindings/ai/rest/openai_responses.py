"""`POST /client/v4/accounts/{account_id}/ai/v1/responses`: OpenAI's Responses API, for the
catalogue's Responses models (gpt-oss), so the openai SDK's `responses.create` works.

The body is OpenAI's Responses request (`model`, `input`, `instructions`, `stream`,
`reasoning`, `max_output_tokens`, `tools`, `text`...); everything but `model` goes to the
model as its inputs, checked by its schema and `bindings.ai.responses.EXTRA_SCHEMA`
(5006 as OpenAI's `invalid_request_error`). The answer is the Response object, or with
`stream: true` its event stream (`bindings.ai.responses`). A model that takes chat
messages instead is a 400 pointing at `/v1/chat/completions`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bindings.ai.responses import takes_responses
from bindings.ai.rest.envelope import bad_input, read_json_object, required_model
from bindings.ai.rest.sse import SSEResponse
from bindings.ai.streaming import AiStream
from emulator.sdk.attrdict import unwrap


async def create_response(request: Request) -> Response:
    state = request.app.state
    body = await read_json_object(request, state.max_body_bytes)
    model = required_model(body, "@cf/openai/gpt-oss-120b")
    service = state.service
    entry = service.catalogue.get(model)
    if not takes_responses(entry):
        served = [e.name for e in service.catalogue.entries() if takes_responses(e)]
        raise bad_input(f"{model} takes chat messages, not Responses input: use "
                        "/v1/chat/completions"
                        f" (the Responses API serves {', '.join(served) or 'no catalogue model'})")
    inputs = {key: value for key, value in body.items() if key != "model"}
    result = await service.run(model, inputs)
    if isinstance(result, AiStream):
        return SSEResponse(aiter(result), on_close=result.aclose)
    return JSONResponse(unwrap(result))
