"""HTTP plumbing shared by the vLLM and TGI engines: the base engine, the pooled client
and SSE reading.

Server-sent events as both servers write them (WHATWG SSE: `data:` lines, blank line
between events, `:` comments): vLLM's `serving_completion.py` ends its stream with
`data: [DONE]`; TGI's `generate_stream` simply ends after the frame carrying
`generated_text`. Every httpx failure becomes an `AiError` via `http_errors`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from bindings.ai.engines import http_errors
from bindings.ai.engines.base import Health, PromptFormat
from bindings.ai.engines.options import Option
from bindings.ai.engines.replicas import Replica, ReplicaSet, summarize
from bindings.ai.routing import Route

DONE = object()  # yielded once when a stream ends with `data: [DONE]`

#: The route options of every engine over HTTP (docs/engines.md has the table).
HTTP_OPTIONS = {
    "timeout": Option("float", "seconds to wait for each chunk", minimum=0),
    "connect_timeout": Option("float", "seconds to connect", minimum=0),
    "health_timeout": Option("float", "seconds for each health check", minimum=0),
    "max_connections": Option("int", "connection pool size", minimum=1),
    "retry_backoff": Option("float", "first backoff after a replica refuses", minimum=0),
    "retry_max_backoff": Option("float", "backoff cap", minimum=0),
    "loras": Option("table", "Cloudflare lora name -> backend adapter name"),
    "api_key": Option("str", "bearer token"),
    "api_key_env": Option("str", "environment variable holding the bearer token"),
}
DRAIN_TIMEOUT = 0.25


class HttpEngine:
    """What every engine over an HTTP backend has: replicas with failover backoff, one
    pooled client (injectable: tests, a shared pool), LoRA name mapping, start hints for
    dead replicas, and templates chosen by the route or the catalogue, never by us."""

    name: str

    def __init__(self, route: Route, urls: list[str], client: httpx.AsyncClient | None) -> None:
        self.route = route
        self.replicas = ReplicaSet(
            urls,
            backoff=float(route.options.get("retry_backoff", 1.0)),
            max_backoff=float(route.options.get("retry_max_backoff", 30.0)),
        )
        self._client = client or make_client(route.options)
        self._owns_client = client is None
        self._hints: dict[str, str] = {}
        #: replicas whose model turned out to have no chat template (`openai_chat`).
        self._untemplated: set[str] = set()
        self.loras: dict[str, str] = dict(route.options.get("loras") or {})

    def prompt_format(self, model: str) -> PromptFormat | None:
        # The backend's weights are unknown to us: the route's override or the catalogue decides.
        if not self.route.prompt_format or self.route.prompt_format == "gguf":
            return None
        from bindings.ai.chat_templates import get_format

        return get_format(self.route.prompt_format)

    def hint(self, url: str) -> str:
        """How to start this replica's server (cached: it is passed along on every call)."""
        hint = self._hints.get(url)
        if hint is None:
            hint = self._hints[url] = http_errors.start_hint(
                self.name, url, self.route.served_model, self.route.model
            )
        return hint

    async def health(self) -> Health:
        return summarize(self.name, await self.health_all())

    async def health_all(self) -> list[Health]:
        """One `Health` per replica, from the engine's `_probe(replica)`."""
        return await self.replicas.check(self._probe)

    async def _probe(self, replica: Replica) -> str:
        raise NotImplementedError

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def make_client(
    options: dict[str, Any], *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """One pooled client per engine; route options `timeout`, `connect_timeout`, `max_connections`.

    `timeout` bounds the wait for each chunk (not the whole generation), so long answers
    stream fine while a stalled backend fails with 3007.
    """
    read = float(options.get("timeout", 120.0))
    connect = float(options.get("connect_timeout", 5.0))
    limit = int(options.get("max_connections", 1024))
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read, connect=connect, pool=read),
        limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        headers=_auth_headers(options),
        transport=transport,
    )


def _auth_headers(options: dict[str, Any]) -> dict[str, str]:
    # vLLM `--api-key` and TGI behind a gateway both take a bearer token; `api_key_env`
    # names an environment variable, so the key need not be written into a file.
    key = options.get("api_key")
    if not key and options.get("api_key_env"):
        key = os.environ.get(str(options["api_key_env"]))
    return {"authorization": f"Bearer {key}"} if key else {}


async def sse_events(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    backend: str,
    hint: str,
) -> AsyncIterator[dict[str, Any] | object]:
    """POST `payload` and yield each SSE `data:` JSON object, then `DONE` if the server sent it.

    A non-2xx answer, a transport failure or a frame that is not a JSON object raises
    `AiError`. Closing the iterator closes the response (and so the upstream request).
    A server that answers with plain JSON instead of a stream yields that object, then `DONE`.
    """
    try:
        async with client.stream("POST", url, json=payload) as response:
            if response.status_code >= 300:
                body = await response.aread()
                raise http_errors.from_status(response.status_code, body, url=url)
            if response.headers.get("content-type", "").startswith("application/json"):
                yield check_object(_load(await response.aread(), url), url)
                yield DONE
                return
            lines = response.aiter_lines()
            async for line in lines:
                if not line.startswith("data:"):
                    continue  # blank separators, `:` keep-alive comments, `event:`/`id:`
                data = line[5:].strip()
                if data == "[DONE]":
                    await _drain(lines)
                    yield DONE
                    return
                yield check_object(_load(data, url), url)
    except httpx.HTTPError as exc:
        raise http_errors.from_transport(exc, url=url, backend=backend, hint=hint) from exc


async def _drain(lines: AsyncIterator[str]) -> None:
    """Read the little left after `[DONE]` (the chunked-body terminator), so the connection
    goes back to the pool instead of being closed; bounded, in case a server lingers."""
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT):
            async for _ in lines:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass  # closing the response then closes the connection: nothing is lost


async def get_json(
    client: httpx.AsyncClient, url: str, *, backend: str, hint: str, timeout: float | None = None
) -> tuple[Any, float]:
    """GET `url` -> (decoded JSON or None for an empty body, latency in ms)."""
    started = time.perf_counter()
    try:
        kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        response = await client.get(url, **kwargs)
    except httpx.HTTPError as exc:
        raise http_errors.from_transport(exc, url=url, backend=backend, hint=hint) from exc
    latency = (time.perf_counter() - started) * 1000
    if response.status_code >= 300:
        raise http_errors.from_status(response.status_code, response.content, url=url)
    if not response.content.strip():
        return None, latency
    return _load(response.content, url), latency


async def post_json(
    client: httpx.AsyncClient, url: str, payload: dict[str, Any], *, backend: str, hint: str
) -> tuple[Any, httpx.Headers]:
    """POST `payload` -> (decoded JSON, response headers); every failure an `AiError`."""
    try:
        response = await client.post(url, json=payload)
    except httpx.HTTPError as exc:
        raise http_errors.from_transport(exc, url=url, backend=backend, hint=hint) from exc
    if response.status_code >= 300:
        raise http_errors.from_status(response.status_code, response.content, url=url)
    return _load(response.content, url), response.headers


def _load(data: str | bytes, url: str) -> Any:
    try:
        value = json.loads(data)
    except ValueError:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        raise http_errors.malformed(url, f"not JSON: {text[:200]!r}") from None
    if not isinstance(value, dict | list):
        raise http_errors.malformed(url, f"expected a JSON object, got {value!r}"[:200])
    return value


async def failing(error: Exception) -> AsyncIterator[Any]:
    """An iterator that raises `error` when iterated: engines report bad requests where the
    binding reads them, on iteration, never from the `generate()` call itself."""
    raise error
    yield  # an async generator, so the raise waits for the first `anext`


def check_object(value: Any, url: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise http_errors.malformed(url, f"expected a JSON object, got {value!r}"[:200])
    return value
