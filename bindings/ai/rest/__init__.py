"""The Workers AI REST API, its OpenAI-compatible endpoint, its OpenAPI document and the
catalogue pages, as one ASGI app: `create_app(service)`.

`edge dev` serves it on its own port, so no path of it ever shadows a worker route.
Paths are Cloudflare's (`/client/v4/accounts/{account_id}/ai/...`): the `cloudflare` and
`openai` SDKs, `requests` and curl work against it by changing only the base URL.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bindings.ai.errors import AiError
from bindings.ai.rest import (
    openai_compat,
    openai_embeddings,
    openai_responses,
    pages,
    routes_models,
    routes_run,
)
from bindings.ai.rest.envelope import (
    DEFAULT_MAX_BODY_BYTES,
    METHOD_NOT_ALLOWED,
    NO_ROUTE,
    ApiError,
    failure,
)
from bindings.ai.rest.guard import RequestGuard, allowed_hosts_from_env
from bindings.ai.rest.openapi import openapi_endpoint
from emulator.disconnect import CancelOnDisconnect

if TYPE_CHECKING:
    from bindings.ai.service import AiService

__all__ = ["API_PREFIX", "create_app"]

log = logging.getLogger("edge.rest")

Endpoint = Callable[[Request], Awaitable[Response]]

API_PREFIX = "/client/v4/accounts/{account_id:cf_account}/ai"
OPENAI_MARK = "/ai/v1/"


class _AccountConvertor(Convertor[str]):
    # Also matches an empty segment: Cloudflare's own curl snippets interpolate
    # $CLOUDFLARE_ACCOUNT_ID, which is often unset locally (`/accounts//ai/run/...`).
    regex = "[^/]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("cf_account", _AccountConvertor())


def create_app(
    service: AiService,
    *,
    api_token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allowed_hosts: tuple[str, ...] | None = None,
) -> Starlette:
    """The ASGI app. `api_token`, when given, is required on every path (`Authorization:
    Bearer`, or the pages' sign-in cookie); without it only loopback Host names and
    `allowed_hosts` (default: `EDGE_API_HOSTS`) are served. See `guard`."""
    api = [
        ("/run/{model:path}", routes_run.run_model, "POST"),
        ("/models/search", routes_models.search_models, "GET"),
        ("/models/schema", routes_models.model_schema, "GET"),
        ("/tasks/search", routes_models.search_tasks, "GET"),
        ("/authors/search", routes_models.search_authors, "GET"),
        ("/v1/chat/completions", openai_compat.chat_completions, "POST"),
        ("/v1/embeddings", openai_embeddings.embeddings, "POST"),
        ("/v1/responses", openai_responses.create_response, "POST"),
    ]
    routes = [
        *(Route(API_PREFIX + path, _guarded(fn), methods=[verb]) for path, fn, verb in api),
        Route("/openapi.json", _guarded(openapi_endpoint), methods=["GET"]),
        *(Route(path, _guarded(fn), methods=["GET"]) for path, fn in pages.ROUTES),
    ]
    guard = Middleware(
        RequestGuard,
        respond=_respond,
        api_token=api_token,
        allowed_hosts=allowed_hosts_from_env() if allowed_hosts is None else allowed_hosts,
    )
    app = Starlette(
        routes=routes,
        # the guard first; then a client that leaves stops its generation, streamed or
        # not (emulator.disconnect)
        middleware=[guard, Middleware(CancelOnDisconnect)],
        exception_handlers={
            ApiError: _api_error,
            AiError: _ai_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.service = service
    app.state.api_token = api_token or None
    app.state.max_body_bytes = max_body_bytes
    return app


def _guarded(endpoint: Endpoint) -> Endpoint:
    """Unexpected exceptions become a logged 3043 in the endpoint's own error format
    (Starlette's server-error handler would re-raise them after answering)."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except (ApiError, AiError, HTTPException):
            raise
        except RecursionError:  # deeply nested inputs, past what validation can walk
            raise AiError(3003, "Bad request: the input is nested too deeply") from None
        except Exception as exc:
            log.exception(
                "edge REST API: unexpected error on %s %s", request.method, request.url.path
            )
            raise AiError(3043, f"Internal server error: {type(exc).__name__}: {exc}") from exc

    return guarded


def _respond(request: Request, code: int | str, message: str, status: int) -> Response:
    if OPENAI_MARK in request.url.path:
        return openai_compat.openai_error(code, message, status)
    if request.url.path.startswith("/client/v4/"):
        return failure(code if isinstance(code, int) else 0, message, status)
    return pages.error_page(request, message, status)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _respond(request, exc.code, exc.message, exc.status)


async def _ai_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AiError)
    return _respond(request, exc.code, str(exc), exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"Method {request.method} not allowed here" + (
            f" (use {allowed})" if allowed else ""
        )
        return _respond(request, METHOD_NOT_ALLOWED, message, 405)
    if exc.status_code == 404:
        message = f"No route for that URI: {request.url.path}"
        if OPENAI_MARK in request.url.path:
            message += (" (the OpenAI-compatible API serves /v1/chat/completions, /v1/responses"
                        " and /v1/embeddings)")
        return _respond(request, NO_ROUTE, message, 404)
    return _respond(request, exc.status_code, str(exc.detail), exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("edge REST API: unexpected error on %s %s", request.method, request.url.path)
    err = AiError(3043, f"Internal server error: {type(exc).__name__}: {exc}")
    return _respond(request, err.code, str(err), err.status)
