"""The catalogue pages: `/` (and `/models`) lists the models, `/models/{model}` is one
model's page, structured like Cloudflare's (e.g. developers.cloudflare.com/workers-ai/
models/llama-2-13b-chat-awq/): header, usage snippets, parameters, API schemas, and a
playground. The task table (`bindings.ai.tasks`) gives the snippets and the playground
(Text Generation's streams from this API's SSE endpoint; the generic one is a form from
the input schema); no page code is per model. jinja2 with autoescape; the CSS and the
JavaScript are inline, nothing loads from the network.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bindings.ai.errors import AiError
from bindings.ai.rest import schema_view
from bindings.ai.rest.highlight import highlight
from bindings.ai.tasks import get_task
from bindings.ai.tasks.base import Task

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("bindings.ai.rest", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["highlight"] = highlight
#: the account id the pages' own requests use (any value works locally)
PAGE_ACCOUNT = "local"


def render(name: str, **context: Any) -> str:
    return _env.get_template(name).render(**context)


def _property(entry: Any, prop: str) -> str | None:
    value = entry.property(prop)
    return None if value is None else str(value)


#: Boolean properties shown as badges when "true", as cloudflare-docs' model pages do
#: (`src/util/model-properties.ts`: CAPABILITY_PROPERTIES; "beta" is the title's badge).
CAPABILITIES = {
    "function_calling": "Function calling",
    "reasoning": "Reasoning",
    "vision": "Vision",
    "lora": "LoRA",
    "partner": "Partner",
    "async_queue": "Batch",
    "realtime": "Real-time",
}


def _badges(entry: Any) -> list[str]:
    badges = [
        label for prop, label in CAPABILITIES.items() if (_property(entry, prop) or "") == "true"
    ]
    deprecation = _property(entry, "planned_deprecation_date")
    if deprecation:
        try:
            when = datetime.date.fromisoformat(deprecation[:10])
        except ValueError:
            when = None
        past = when is not None and when <= datetime.date.today()
        badges.append("Deprecated" if past else f"Planned deprecation ({deprecation[:10]})")
    return badges


def _engines(service: Any) -> dict[str, Any]:
    """model -> `ServedModel` (its engine label, or why it is not served)."""
    try:
        return {served.model: served for served in service.describe()}
    except Exception:  # the engine label is a nicety; a page never fails for it
        return {}


def _card(entry: Any, engines: dict[str, Any]) -> dict[str, Any]:
    served = engines.get(entry.name)
    return {
        "name": entry.name,
        "short": entry.name.rsplit("/", 1)[-1],
        "description": entry.description,
        "task": entry.task_name,
        "author": entry.author,
        "tags": list(entry.tags or []),
        "beta": (_property(entry, "beta") or "").lower() == "true",
        "badges": _badges(entry),
        "engine": served.text if served is not None else "",
        "stand_in": bool(served and served.label and served.label.stand_in),
    }


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def index(request: Request) -> Response:
    service = request.app.state.service
    engines = _engines(service)
    cards = [_card(entry, engines) for entry in sorted(service.catalogue.entries(), key=_order)]
    tasks = sorted({card["task"] for card in cards if card["task"]})
    html = render("index.html", models=cards, tasks=tasks, base_url=_base_url(request))
    return HTMLResponse(html)


def _order(entry: Any) -> tuple:
    return (entry.task_name or "", entry.name)


async def model_page(request: Request) -> Response:
    service = request.app.state.service
    if not request.path_params["model"]:
        return await index(request)
    try:
        entry = service.catalogue.get(request.path_params["model"])
    except AiError as err:
        return error_page(request, str(err), 404)
    base = _base_url(request)
    card = _card(entry, _engines(service))
    links = [
        (label, value)
        for label, prop in (("More information", "info"), ("Terms and license", "terms"))
        if (value := _property(entry, prop))
    ]
    # A task without page pieces of its own (or without a module yet) gets the generic
    # ones: snippets and a playground form derived from the model's schema.
    task = get_task(entry.task_name) or _NO_TASK
    playground = task.playground(entry)
    context = {
        "model": card,
        "links": links,
        "snippets": task.snippets(entry, base),
        "inputs": schema_view.top_level(entry.input_schema),
        "outputs": schema_view.top_level(entry.output_schema),
        "input_json": json.dumps(entry.input_schema, indent=2),
        "output_json": json.dumps(entry.output_schema, indent=2),
        "playground": playground,
        "run_url": f"{base}/client/v4/accounts/{PAGE_ACCOUNT}/ai/run/{entry.name}",
        "needs_token": request.app.state.api_token is not None,
        "base_url": base,
    }
    # The task's playground context first: the page's own names win.
    return HTMLResponse(render("model.html", **{**(playground.context if playground else {}),
                                                **context}))


_NO_TASK = Task()


def error_page(request: Request, message: str, status: int) -> Response:
    html = render("error.html", message=message, status=status, base_url=_base_url(request))
    return HTMLResponse(html, status_code=status)


#: (path, endpoint) pairs, all GET.
ROUTES = [
    ("/", index),
    ("/models", index),
    ("/models/{model:path}", model_page),
]
