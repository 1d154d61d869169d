"""Backend failures -> Workers AI errors, for the engines that talk HTTP (vLLM, TGI, TEI).

Every failure names the backend URL, so a user with three replicas knows which one broke:

| backend answer                                              | AiError                     |
|-------------------------------------------------------------|-----------------------------|
| 400 / 422 validation (vLLM `{"object": "error", ...}` or    | 3010, the backend's message |
| `{"error": {...}}`; TGI `{"error", "error_type": "validation"}`) |                        |
| the same, about the context length                          | 3030                        |
| 429, or TGI `error_type: "overloaded"`                      | 3040 out of capacity        |
| 408 / 504, or an httpx timeout                              | 3007 timeout                |
| any other 4xx / 5xx (TGI 424 `generation`, 500...)          | 3043 internal               |
| a frame that is not the protocol's JSON                     | 3043 internal               |
| connection refused / DNS failure                            | `BackendUnavailable` (3043) |
|                                                             | with how to start the server|
| connect timeout                                             | `BackendUnavailable` (3007) |

Error shapes as the servers write them: vLLM's `ErrorResponse` in
`vllm/entrypoints/openai/protocol.py` (flat `object/message/type/param/code`, newer
releases nest it under `error`), TGI's `ErrorResponse {error, error_type}` and the
`InferError -> StatusCode` table in `router/src/server.rs` (422 validation, 424 generation,
429 overloaded, 500 incomplete generation); TEI's `ErrorResponse {error, error_type}` in
its OpenAPI document (413 batch too large, 422 tokenization or validation, 424 backend,
429 overloaded, 400 empty batch).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import httpx

from bindings.ai.errors import AiError
from emulator.errors import EdgeError

#: how to start each kind of backend when the route names no catalogue model edge can serve
#: (a `*` route): the server's own command, for the served model or seed 002's.
START_HINTS: dict[str, str] = {
    "vllm": "vllm serve {model} --port {port}",
    "tgi": "text-generation-launcher --model-id {model} --port {port}",
    "tei": "text-embeddings-router --model-id {model} --port {port}",
}
DEFAULT_MODELS: dict[str, str] = {
    "vllm": "TheBloke/Llama-2-13B-chat-AWQ --quantization awq",
    "tgi": "meta-llama/Llama-2-7b-chat-hf",
    "tei": "BAAI/bge-base-en-v1.5",
}

# Messages both servers use when the prompt does not fit (vLLM's "maximum context length",
# TGI's "`inputs` must have less than N tokens" and "`inputs` tokens + `max_new_tokens`").
_CONTEXT_RE = re.compile(
    r"maximum context length|max_model_len|must have less than \d+ tokens|"
    r"`inputs` tokens \+ `max_new_tokens`|max_total_tokens|too long",
    re.IGNORECASE,
)

# TGI's `error_type`, vLLM's exception class names, OpenAI's `type` for a rejected request,
# TEI's `error_type` (`Validation`, `Tokenizer`, `Empty`; compared in lower case).
_VALIDATION_KINDS = frozenset({"validation", "BadRequestError", "invalid_request_error",
                               "tokenizer", "empty"})


class BackendUnavailable(AiError):
    """The backend could not be reached at all (nothing was sent): safe to retry elsewhere."""

    def __init__(self, description: str, *, url: str, code: int = 3043) -> None:
        super().__init__(code, description)
        self.url = url


def start_hint(
    backend: str, url: str, served_model: str | None = None, model: str | None = None
) -> str:
    """A command line that would start a `backend` server listening where `url` points.

    When the route is for one catalogue `model` with serving data for `backend`, that is
    `edge ai serve` for it (a loopback URL) and the exact server command, from the same data.
    """
    parsed = httpx.URL(url)
    port = parsed.port or 80
    served = _serve_hint(backend, model, served_model, parsed.host, port) if model else None
    if served:
        return served
    template = START_HINTS.get(backend)
    if template is None:
        return f"start an OpenAI-compatible server at {url}"
    return template.format(model=served_model or DEFAULT_MODELS[backend], port=port)


def _serve_hint(backend: str, model: str, served_model: str | None, host: str,
                port: int) -> str | None:
    """`edge ai serve MODEL ...` and its native command, or None if the catalogue can't say."""
    from bindings.ai.catalogue import load_catalogue
    from bindings.ai.serve.servers import SERVERS, Launch
    from bindings.ai.serve.spec import serve_spec

    server = SERVERS.get(backend)
    try:
        spec = serve_spec(load_catalogue().get(model))
    except EdgeError:  # unknown model (a glob, a user's name) or no serving data
        return None
    if server is None or backend not in spec.servers:
        return None
    if served_model and served_model != spec.hf_repo:
        return None  # the route serves other weights than the catalogue's
    local = host in ("127.0.0.1", "localhost", "::1")
    launch = Launch(host=host if local else "0.0.0.0", port=port)  # a remote one is reached
    native = shlex.join([*server.native, *server.args(spec, launch, native=True)])
    if not local:  # `edge ai serve` starts servers on this machine only
        return f"on {host}, run `{native}`"
    return f"edge ai serve {model} --engine {backend} --port {port}, or run `{native}`"


def error_message(body: bytes | str) -> tuple[str, str | None]:
    """(message, error type) out of any of the error bodies above; the raw text otherwise."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data: Any = json.loads(text)
    except ValueError:
        return text.strip()[:500] or "(empty body)", None
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict):  # newer vLLM / OpenAI: {"error": {"message", "type"}}
            return str(inner.get("message", inner)), _str_or_none(inner.get("type"))
        if isinstance(inner, str):  # TGI, TEI: {"error": "...", "error_type": "validation"}
            kind = _str_or_none(data.get("error_type"))
            return inner, kind.lower() if kind else None  # TEI capitalizes: "Overloaded"
        if "message" in data:  # older vLLM: {"object": "error", "message", "type"}
            return str(data["message"]), _str_or_none(data.get("type"))
        if "detail" in data:  # FastAPI-style servers (llama.cpp's Python server, routers)
            return _detail_text(data["detail"]), None
    return text.strip()[:500], None


def from_status(status: int, body: bytes | str, *, url: str) -> AiError:
    """The AiError for a non-2xx answer from the backend at `url`."""
    message, kind = error_message(body)
    where = f"backend {url}"
    if status == 429 or kind == "overloaded":
        return AiError(3040, f"{where} is out of capacity (HTTP {status}): {message}")
    if status in (408, 504):
        return AiError(3007, f"{where} timed out (HTTP {status}): {message}")
    if status in (400, 413, 422) or kind in _VALIDATION_KINDS:
        if _CONTEXT_RE.search(message):
            return AiError(3030, f"{where} rejected the prompt: {message}")
        return AiError(3010, f"{where} rejected the request: {message}")
    if status == 404:
        return AiError(
            3043,
            f"{where} answered 404: {message} (check the route's served_model and the URL)",
        )
    return AiError(3043, f"{where} failed with HTTP {status}: {message}")


def from_stream_error(payload: dict[str, Any], *, url: str) -> AiError:
    """The AiError for an error frame in the middle of an SSE stream."""
    message, kind = error_message(json.dumps(payload))
    if kind == "overloaded":
        return AiError(3040, f"backend {url} is out of capacity: {message}")
    if kind in _VALIDATION_KINDS:
        code = 3030 if _CONTEXT_RE.search(message) else 3010
        return AiError(code, f"backend {url} rejected the request: {message}")
    return AiError(3043, f"backend {url} failed mid-stream: {message}")


def from_transport(exc: httpx.HTTPError, *, url: str, backend: str, hint: str) -> AiError:
    """The AiError for an httpx failure talking to `url`; `hint` says how to start it."""
    if isinstance(exc, httpx.ConnectTimeout):
        # Nothing was sent, so another replica may take the request (a blackholed host).
        return BackendUnavailable(
            f"timed out connecting to {backend} backend {url}; is it running? start it with: "
            f"{hint}",
            url=url,
            code=3007,
        )
    if isinstance(exc, httpx.TimeoutException):
        phase = "waiting for"
        if isinstance(exc, httpx.PoolTimeout):
            phase = "waiting for a free connection to"
        return AiError(3007, f"timed out {phase} {backend} backend {url}")
    if isinstance(exc, httpx.ConnectError):
        reason = _reason(exc)
        if reason == "All connection attempts failed":  # httpx's words for ECONNREFUSED
            reason = "connection refused"
        return BackendUnavailable(
            f"{backend} backend {url} is not reachable ({reason}); start it with: {hint}",
            url=url,
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return AiError(3043, f"connection to {backend} backend {url} broke: {_reason(exc)}")
    return AiError(3043, f"{backend} backend {url}: {_reason(exc)}")


def malformed(url: str, detail: str) -> AiError:
    """A frame or body that does not follow the backend's protocol."""
    return AiError(3043, f"backend {url} sent a malformed response: {detail}")


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):  # pydantic errors: [{"loc": [...], "msg": "..."}]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg")))
        return "; ".join(parts) or json.dumps(detail)
    return str(detail)
