"""`env.AI`: the Workers AI binding object a worker sees (`[ai] binding = "AI"`).

Mirrors workerd's `Ai` class (`src/cloudflare/internal/ai-api.ts`): `run(model, inputs,
options)` returns the result object, or the SSE stream with `stream: true`, or, with
`options={"returnRawResponse": True}`, a `Response` carrying either (errors included,
as their JSON body and HTTP status, rather than raised); `models(params)` searches the
catalogue; `lastRequestId` / `aiGatewayLogId` are set after each run. Every instance
shares one `AiService` per dev session (`host.shared("ai", ...)`), so engines and
loaded models survive hot reloads.

`KIND` is the AI kind's row of the bindings contract (`bindings.contract`): the binding,
its banner lines and start-up check, and the Workers AI REST API as its side app.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from typing import Any

from bindings.ai.binary import AiBinary
from bindings.ai.errors import AiError
from bindings.ai.service import AiService, grouped
from bindings.ai.streaming import AiStream
from bindings.contract import BindingHost, BindingKind, BindingSpec, SideApp
from emulator.sdk.attrdict import AttrDict, unwrap


class Ai:
    """The `env.AI` object. `await env.AI.run(...)`, `await env.AI.models(...)`."""

    def __init__(self, service: AiService) -> None:
        self._service = service
        self.lastRequestId: str | None = None
        self.aiGatewayLogId: str | None = None

    @property
    def service(self) -> AiService:
        return self._service

    async def run(
        self, model: str, inputs: Any = None, options: Mapping[str, Any] | None = None
    ) -> AttrDict | AiStream | AiBinary | Any:
        """Run `model` on `inputs`; raises `AiError` (`"5006: ..."`) like Cloudflare."""
        # A v4 UUID like Cloudflare's cf-ai-req-id, without uuid4()'s urandom syscall.
        request_id = self.lastRequestId = str(uuid.UUID(int=random.getrandbits(128), version=4))
        raw = bool(options.get("returnRawResponse")) if isinstance(options, Mapping) else False
        if not raw:
            return await self._service.run(model, inputs, _plain(options))
        try:
            result = await self._service.run(model, inputs, _plain(options))
        except AiError as exc:
            return _error_response(exc, request_id)
        return _result_response(result, request_id)

    async def models(self, params: Mapping[str, Any] | None = None) -> list[AttrDict]:
        """Catalogue records in the REST `/ai/models/search` shape."""
        return await self._service.models(params)

    def gateway(self, gateway_id: str) -> Any:
        raise NotImplementedError(
            f"env.AI.gateway({gateway_id!r}): AI Gateway is not emulated by edge; "
            "call env.AI.run() directly"
        )

    def autorag(self, autorag_id: str | None = None) -> Any:
        raise NotImplementedError("env.AI.autorag(): AutoRAG is not emulated by edge")

    def toMarkdown(self, *args: Any, **kwargs: Any) -> Any:  # Cloudflare's name
        raise NotImplementedError("env.AI.toMarkdown(): document conversion is not emulated")

    def __repr__(self) -> str:
        return "<Ai binding (Workers AI, local engines)>"


def shared_service(host: BindingHost) -> AiService:
    """The session's one `AiService` (`env.AI` and the REST API share it)."""
    return host.shared("ai", lambda: AiService.from_settings(host.settings.ai))


def build(spec: BindingSpec, host: BindingHost) -> Ai:
    """`env.<spec.name>` for an `[ai]` binding: a view on the session's shared service."""
    service = shared_service(host)
    service.reconfigure(host.settings.ai)  # a reload may bring new routes (edge.toml)
    return Ai(service)


class _LazyApi:
    """The REST API app, imported and built on its first request: its stack (starlette
    routes, jinja2 pages, OpenAPI) is not worth importing for a worker nobody queries."""

    def __init__(self, host: BindingHost, token: str | None) -> None:
        self.host = host
        self.token = token
        self.app: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self.app is None:
            from bindings.ai.rest import create_app

            self.app = create_app(shared_service(self.host), api_token=self.token)
        await self.app(scope, receive, send)


def _side_app(host: BindingHost, token: str | None) -> SideApp:
    return SideApp("Workers AI REST API", _LazyApi(host, token))


KIND = BindingKind(
    "ai",
    "AI",
    shape="table",
    build=build,
    describe=lambda ai: grouped(ai.service.describe()),
    startup=lambda ai: ai.service.startup(),
    side_app=_side_app,
)


def _plain(options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if options is None or not isinstance(options, Mapping):
        return options  # the service reports a non-mapping clearly
    return {k: v for k, v in options.items() if k != "returnRawResponse"}


def _result_response(result: Any, request_id: str) -> Any:
    from emulator.sdk import Response

    headers = {"cf-ai-req-id": request_id}
    if isinstance(result, AiStream):
        headers["content-type"] = "text/event-stream"
        return Response(result, headers=headers)
    if isinstance(result, AiBinary):
        headers["content-type"] = result.media_type
        return Response(result.data, headers=headers)
    return Response.json(unwrap(result), headers=headers)


def _error_response(error: AiError, request_id: str) -> Any:
    from emulator.sdk import Response

    # The body the binding's upstream answers with (what ai-api.ts's _parseError reads).
    body = {
        "internalCode": error.code,
        "name": "InferenceUpstreamError",
        "message": str(error),
        "description": error.description,
        "errors": [error.to_envelope_error()],
    }
    return Response.json(body, status=error.status, headers={"cf-ai-req-id": request_id})
