"""Cloudflare's v4 API envelope and bounded JSON bodies (the token is checked by `guard`).

Every answer of the Cloudflare REST API is `{"result", "success", "errors", "messages"}`
(https://developers.cloudflare.com/fundamentals/api/ "API response format"); errors are
`[{"code", "message"}]` with the HTTP status of the code. Workers AI codes come from
`bindings.ai.errors`; the API's own (authentication 10000, routing 7000/7001) are here.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from bindings.ai import strict_json
from bindings.ai.errors import AiError

#: Cloudflare's API-level codes (not Workers AI's): code -> (status, message).
AUTH_ERROR = 10000
FORBIDDEN = 9109  # "Unauthorized to access requested resource" (403)
NO_ROUTE = 7000
METHOD_NOT_ALLOWED = 7001
BAD_QUERY = 1001  # invalid query parameter; used for search/schema parameters

#: Requests larger than this are refused with 413 / 3006 before they are read whole.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


class ApiError(Exception):
    """An error the API answers in its envelope (or as an OpenAI error on the v1 paths)."""

    def __init__(self, code: int, message: str, status: int) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(message)

    @classmethod
    def from_ai(cls, err: AiError) -> ApiError:
        return cls(err.code, str(err), err.status)


def success(result: Any, *, result_info: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"result": result, "success": True, "errors": [], "messages": []}
    if result_info is not None:
        body["result_info"] = result_info
    return JSONResponse(body)


def failure(code: int, message: str, status: int) -> JSONResponse:
    body = {
        "result": None,
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
    }
    return JSONResponse(body, status_code=status)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 / 3006 as soon as it passes `max_bytes`."""
    too_large = AiError(3006, f"Request is too large (the limit is {max_bytes} bytes)")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError.from_ai(too_large)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise ApiError.from_ai(too_large)
            chunks.append(chunk)
    except ClientDisconnect:  # nobody reads the answer; 499 as nginx logs it
        raise ApiError.from_ai(AiError(3008, status=499)) from None
    return b"".join(chunks)


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body parsed as a JSON object by `strict_json.loads`, whatever the content
    type says.

    Cloudflare's own curl examples send JSON without `Content-Type` (curl then says
    `application/x-www-form-urlencoded`), so the header is not trusted.
    """
    return parse_json_object(await read_body(request, max_bytes))


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body parsed as a JSON object; 3003 naming what is wrong otherwise."""
    if not raw.strip():
        raise ApiError.from_ai(AiError(3003, "Bad request: the body is empty; send JSON inputs"))
    try:
        data = strict_json.loads(raw)
    except strict_json.JsonSyntaxError as exc:
        raise ApiError.from_ai(AiError(3003, f"Bad request: malformed JSON body ({exc})")) from None
    except AiError as err:  # JSON, but with values no model input can hold (5006)
        raise ApiError.from_ai(err) from None
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean"}.get(type(data), "a number")
        if data is None:
            kind = "null"
        raise ApiError.from_ai(
            AiError(3003, f"Bad request: the body must be a JSON object, not {kind}")
        )
    return data


def bad_input(message: str) -> ApiError:
    """A 5006 for a request body the OpenAI-shaped endpoints cannot map onto model inputs."""
    return ApiError.from_ai(AiError(5006, f"Error: {message}"))


def required_model(body: dict[str, Any], example: str) -> str:
    """The body's `model`, or a 5006 naming a catalogue model of the endpoint's kind."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_input(f"'model' is required: a catalogue model name, e.g. {example}")
    return model
