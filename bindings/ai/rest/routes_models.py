"""The catalogue endpoints of Cloudflare's API: model search, model schema, tasks, authors.

Parameters as documented in the API reference ("Model Search",
`GET /accounts/{account_id}/ai/models/search`: `search`, `task`, `author`, `source`,
`hide_experimental`, `page`, `per_page`; "Get Model Schema",
`GET /accounts/{account_id}/ai/models/schema?model=`: `result: {input, output}`), with
`result_info` as in every paginated v4 answer (`page`, `per_page`, `count`,
`total_count`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bindings.ai.rest.envelope import BAD_QUERY, ApiError, success

MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 50
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


async def search_models(request: Request) -> Response:
    state = request.app.state
    query = request.query_params
    page = _int_param(query, "page", 1, 1, 10**6)
    per_page = _int_param(query, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    source = _int_param(query, "source", None, 0, 10**6)
    hide_experimental = _bool_param(query, "hide_experimental")
    found = state.service.catalogue.search_page(
        search=query.get("search") or None,
        task=query.get("task") or None,
        author=query.get("author") or None,
        page=page,
        per_page=per_page,
        source=source,
        hide_experimental=hide_experimental,
    )
    return success(found.records, result_info=found.result_info())


async def model_schema(request: Request) -> Response:
    state = request.app.state
    name = request.query_params.get("model")
    if not name:
        raise ApiError(BAD_QUERY, "the query parameter 'model' is required", 400)
    entry = state.service.catalogue.get(name)
    return success({"input": entry.input_schema, "output": entry.output_schema})


async def search_tasks(request: Request) -> Response:
    state = request.app.state
    tasks: dict[str, dict[str, Any]] = {}
    for record in state.service.catalogue.search(page=1, per_page=10**9):
        task = record.get("task") or {}
        tasks.setdefault(task.get("id") or task.get("name"), task)
    return success(sorted(tasks.values(), key=lambda task: task.get("name") or ""))


async def search_authors(request: Request) -> Response:
    state = request.app.state
    authors = sorted({entry.author for entry in state.service.catalogue.entries() if entry.author})
    return success([{"name": author} for author in authors])


def _int_param(query: Any, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ApiError(BAD_QUERY, f"'{name}' must be an integer from {low} to {high}", 400)
    return value


def _bool_param(query: Any, name: str) -> bool:
    raw = (query.get(name) or "").lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ApiError(BAD_QUERY, f"'{name}' must be true or false", 400)
