"""The Workers AI service: catalogue + validation + routing + engines, shared by `env.AI`,
the REST API and `edge ai`. One per dev session (it survives hot reloads).

`run()` follows Cloudflare's binding (workerd `src/cloudflare/internal/ai-api.ts`):
look the model up (5007), validate the inputs against its schema (5006; nothing invalid
reaches an engine), drop and log once the keys the schema does not declare, then hand
over to the model's task (`bindings.ai.tasks`): it builds the engine request (Text
Generation: the prompt templated for the weights actually served), runs the engine of
the model's route, and shapes the answer as Cloudflare does (`{"response", "usage"}`,
an `AiStream` of SSE frames, raw bytes...). A route whose engine cannot serve the
model's task is a 5007 naming the task and how to route it. The third argument takes
Cloudflare's `AiOptions`; those with no local meaning are accepted and noted once in
the dev log.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bindings.ai.binary import binary_view, is_bytes, read_streams
from bindings.ai.engines import create_engine
from bindings.ai.engines.base import Engine, EngineLabel, Health, serves
from bindings.ai.errors import AiError, bad_input, internal
from bindings.ai.routing import Route, RouteError, RouteLayer, RouteTable, describe_route
from bindings.ai.streaming import as_ai_error
from bindings.ai.strict_json import check_value
from bindings.ai.tasks import cannot_serve, task_of
from emulator.local_settings import AiSettings
from emulator.sdk.attrdict import AttrDict

log = logging.getLogger("edge.ai")

#: `AiOptions` keys (workerd's ai-api.ts and workers-types) -> what they do here.
RUN_OPTIONS: dict[str, str] = {
    "returnRawResponse": "supported: run() returns a Response",
    "gateway": "AI Gateway (caching, logging, rate limits) is not emulated; "
    "requests go straight to the local engine",
    "prefix": "no effect locally (Cloudflare prefixes the model id header with it)",
    "extraHeaders": "no effect locally (Cloudflare adds them to its upstream request)",
    "sessionOptions": "deprecated on Cloudflare; no effect",
    "signal": "not honoured: close the returned stream to stop a generation",
    "queueRequest": "batch queueing is not emulated; the request runs immediately",
    "tags": "no effect locally (Cloudflare attaches them to its analytics)",
    "websocket": "not emulated; the request runs over the ordinary path",
}

#: `env.AI.models()` search parameters (workerd's `AiModelsSearchParams`).
SEARCH_PARAMS = ("search", "task", "author", "page", "per_page", "source", "hide_experimental")

HEALTH_TIMEOUT = 10.0

#: `grouped()` lists the models sharing a banner text one by one up to this many.
GROUP_AFTER = 3


class AiService:
    """See the module docstring. Engines are created lazily, one per route key, shared."""

    def __init__(
        self,
        catalogue: Any,
        routes: RouteTable | None = None,
        *,
        engine_factory: Callable[[Route], Engine] = create_engine,
    ) -> None:
        self.catalogue = catalogue
        self.routes = routes if routes is not None else RouteTable()
        self._engine_factory = engine_factory
        self._engines: dict[tuple, Engine] = {}
        self._resolved: dict[str, _Serving] = {}
        self._noted: set[Any] = set()
        self._started = False
        self.last_health: dict[str, list[Health]] = {}

    @classmethod
    def from_settings(cls, settings: AiSettings | None = None) -> AiService:
        """Build from the machine-local AI settings (`emulator.local_settings.AiSettings`:
        routes from `--ai-route`, `EDGE_AI_ROUTES` and `edge.toml`, catalogue folders)."""
        from bindings.ai.catalogue import load_catalogue

        settings = settings or AiSettings()
        return cls(load_catalogue(list(settings.catalogue)), settings.route_table())

    # --- routing and engines -------------------------------------------------------------

    def reconfigure(self, settings: AiSettings) -> bool:
        """Take new routes (an edited `edge.toml`, on hot reload); True if they changed.

        Engines stay cached by route key, so a model keeps its loaded engine when its route
        is unchanged; engines set from Python keep their place ahead of the rest.
        """
        table = settings.route_table()
        python = [layer for layer in self.routes.layers if layer.source == "python"]
        if _fingerprint(table.layers) == _fingerprint(
            [layer for layer in self.routes.layers if layer.source != "python"]
        ):
            return False
        table.layers[:0] = python
        self.routes = table
        self._resolved.clear()
        self._started = False
        log.info("AI routes changed: %s", "; ".join(grouped(self.describe())))
        return True

    def set_engine(self, model: str, engine: Engine) -> Route:
        """Serve `model` (a name, glob or `*`) with an engine built in Python (tests,
        the pytest harness), ahead of every configured route."""
        route = Route(model=model, engine=engine.name, options={"instance": id(engine)})
        layer = self.routes.layers[0] if self.routes.layers else None
        if layer is None or layer.source != "python":
            self.routes.layers.insert(0, RouteLayer("python", (route,)))
        else:
            self.routes.layers[0] = RouteLayer("python", (*layer.routes, route))
        self._engines[_engine_key(route)] = engine
        self._resolved.clear()
        return route

    def route_for(self, model: str) -> Route:
        """The route serving `model` (its task's default engine where no route names it)."""
        from bindings.ai.tasks import get_task

        try:
            task = get_task(self.catalogue.get(model).task_name)
        except AiError:
            task = None
        return self.routes.resolve(model, task.default_engine if task is not None else None)

    def engine_for(self, route: Route) -> Engine:
        """The engine serving `route`, created on first use; `RouteError` if it cannot be."""
        key = _engine_key(route)
        engine = self._engines.get(key)
        if engine is None:
            try:
                engine = self._engine_factory(route)
            except Exception as exc:
                source = self.routes.source_of(route)
                raise RouteError(
                    f"{describe_route(route)!r} (from {source})",
                    f"engine {route.engine!r} could not be created: {type(exc).__name__}: {exc}",
                ) from exc
            self._engines[key] = engine
        return engine

    def engines(self) -> list[Engine]:
        return list(self._engines.values())

    # --- run -----------------------------------------------------------------------------

    async def run(
        self,
        model: str,
        inputs: Any,
        options: dict[str, Any] | None = None,
        *,
        unchecked: Mapping[str, Any] | None = None,
    ) -> Any:
        """`env.AI.run(model, inputs, options)` minus `returnRawResponse` (the binding's):
        an `AttrDict` (or list), an `AiStream`, or an `AiBinary`, as the task shapes it.

        `unchecked` inputs join after validation, for callers that checked them already
        (the OpenAI endpoint's `stop`, which most catalogue schemas do not declare)."""
        self._note_options(options)
        entry = self.catalogue.get(model)
        if is_bytes(inputs):  # an image or audio model's binary form: the bytes alone
            field = task_of(entry).binary_input
            inputs = {field: inputs} if field else inputs
        if not isinstance(inputs, dict | Mapping):
            kind = "null" if inputs is None else type(inputs).__name__
            raise bad_input(f"Error: Type mismatch of '/', '{kind}' not in 'object'")
        from bindings.ai.validation import check_inputs

        check_value(inputs)  # NaN, lone surrogates, nesting: before any schema walks it
        view, restore = binary_view(entry, await read_streams(dict(inputs)))
        checked = check_inputs(entry, view)
        # Keys the published schema leaves out but the model's API takes (the Responses
        # API's `instructions`...): the task checks them itself, 5006 as the schema would.
        extra = task_of(entry).extra_inputs(entry, inputs)
        ignored = [key for key in checked.ignored if key not in extra]
        if ignored:
            self._note_ignored(entry.name, ignored)
        serving = self._serving(model, entry)
        valid = {**restore(checked.inputs), **extra, **(unchecked or {})}
        request = serving.task.build(entry, valid, serving.prepared)
        log.debug("AI %s -> %s: %r", model, serving.engine.name, request)
        return await serving.task.run(entry, serving.engine, request)

    async def models(self, params: Mapping[str, Any] | None = None) -> list[AttrDict]:
        """`env.AI.models(params)`: catalogue records in the REST `/ai/models/search` shape."""
        params = dict(params or {})
        for key in sorted(set(params) - set(SEARCH_PARAMS)):
            self._note(("models", key), f"env.AI.models(): unknown parameter {key!r} ignored")
        search = {k: params[k] for k in SEARCH_PARAMS if params.get(k) is not None}
        try:
            for key in ("page", "per_page", "source"):
                if key in search:
                    search[key] = int(search[key])
            if "hide_experimental" in search:
                search["hide_experimental"] = str(search["hide_experimental"]).lower() in (
                    "1",
                    "true",
                    "yes",
                )
            records = self.catalogue.search(**search)
        except (TypeError, ValueError) as exc:
            raise AiError(3003, f"env.AI.models(): {exc}") from None
        return [AttrDict(r) for r in records]

    # --- lifecycle -----------------------------------------------------------------------

    def describe(self) -> list[ServedModel]:
        """What serves each catalogue model, as data; `str()` of each is its banner line,
        `<model> → <engine label>`."""
        lines = []
        for entry in self.catalogue.entries():
            route = self.route_for(entry.name)
            label: EngineLabel | None = None
            problem = None
            try:
                engine = self.engine_for(route)
                self._check_task(entry, route, engine)
                label = _as_label(engine.describe(entry.name))
            except RouteError as exc:
                problem = f"error: {exc.problem}"
            except AiError as exc:
                problem = f"not served: {exc.description}"
            health = self.last_health.get(describe_route(route))
            unhealthy = None
            if health and not all(h.ok for h in health):
                unhealthy = "; ".join(h.detail for h in health if not h.ok)
            lines.append(ServedModel(entry.name, entry.task_name, describe_route(route), label,
                                     problem, unhealthy))
        return lines

    async def startup(self) -> None:
        """Check the routes (unknown models, engines that cannot be created: `RouteError`
        naming the route) and run every engine's health check once. Idempotent."""
        if self._started:
            return
        names = [entry.name for entry in self.catalogue.entries()]
        for source, route in self.routes.explicit_routes():
            if route.model == "*" or any(c in route.model for c in "*?["):
                continue
            if route.model not in names:
                close = difflib.get_close_matches(route.model, names, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise RouteError(
                    f"{describe_route(route)!r} (from {source})",
                    f"no catalogue model is named {route.model}{hint}",
                )
        for entry in self.catalogue.entries():
            route = self.route_for(entry.name)
            engine = self.engine_for(route)
            if route.model == entry.name:  # routed by name: it must be able to serve it
                try:
                    self._check_task(entry, route, engine)
                except AiError as exc:
                    source = self.routes.source_of(route)
                    raise RouteError(
                        f"{describe_route(route)!r} (from {source})", exc.description
                    ) from None
        await self.health()
        for key, results in self.last_health.items():
            for result in results:
                if not result.ok:
                    log.warning("AI route %s is not healthy: %s", key, result.detail)
        self._started = True

    async def health(self) -> dict[str, list[Health]]:
        """Each route in use (its spec string) -> the health of its engine."""
        used: dict[str, Engine] = {}
        for entry in self.catalogue.entries():
            route = self.route_for(entry.name)
            try:
                used.setdefault(describe_route(route), self.engine_for(route))
            except RouteError as exc:
                used.setdefault(describe_route(route), _Broken(str(exc)))
        results = await asyncio.gather(*(_check(engine) for engine in used.values()))
        self.last_health = {key: [result] for key, result in zip(used, results, strict=True)}
        return dict(self.last_health)

    async def close(self) -> None:
        engines, self._engines = list(self._engines.values()), {}
        self._resolved.clear()
        self._started = False
        for engine in engines:
            try:
                await engine.close()
            except Exception:
                log.exception("closing AI engine %s failed", getattr(engine, "name", engine))

    # --- helpers -------------------------------------------------------------------------

    def _serving(self, model: str, entry: Any) -> _Serving:
        """The task, engine and task preparation for a model, resolved once and cached
        (the cache is cleared whenever routes or engines change)."""
        cached = self._resolved.get(model)
        if cached is not None and cached.entry is entry:
            return cached
        route = self.route_for(model)
        try:
            engine = self.engine_for(route)
        except RouteError as exc:
            raise internal(str(exc)) from exc
        task = self._check_task(entry, route, engine)
        serving = _Serving(entry, task, engine, task.prepare(entry, route, engine))
        self._resolved[model] = serving
        return serving

    def _check_task(self, entry: Any, route: Route, engine: Engine) -> Any:
        """The entry's task, if `engine` can serve it; else 5007 saying how to route it."""
        task = task_of(entry)
        if not serves(engine, task.capability):
            source = self.routes.source_of(route)
            raise cannot_serve(entry, task, f"'{describe_route(route)}' ({source})", engine)
        return task

    def _note(self, key: Any, message: str) -> None:
        if key not in self._noted:
            self._noted.add(key)
            log.info(message)

    def _note_options(self, options: Any) -> None:
        if options is None:
            return
        if not isinstance(options, Mapping):
            raise AiError(3003, f"run() options must be an object, got {type(options).__name__}")
        for key in options:
            if key == "returnRawResponse":
                continue
            meaning = RUN_OPTIONS.get(key, "not a Workers AI run() option; ignored")
            self._note(("option", key), f"env.AI.run() option {key!r}: {meaning}")

    def _note_ignored(self, model: str, ignored: list[str]) -> None:
        keys = ", ".join(sorted(ignored))
        self._note(
            ("ignored", model, keys),
            f"{model}: input key(s) {keys} are not in the model's schema; not sent to the engine",
        )


@dataclass(frozen=True)
class ServedModel:
    """How one catalogue model is served: its route and engine label, or why it is not."""

    model: str
    task: str
    route: str
    label: EngineLabel | None
    problem: str | None = None
    unhealthy: str | None = None

    @property
    def text(self) -> str:
        """What follows the arrow in the banner line."""
        text = str(self.label) if self.label is not None else self.problem or ""
        return text + (f" (unhealthy: {self.unhealthy})" if self.unhealthy else "")

    def __str__(self) -> str:
        return f"{self.model} → {self.text}"


def grouped(rows: list[ServedModel]) -> list[str]:
    """Banner lines: the models sharing what serves them fold into `<n> models → <text>`
    past `GROUP_AFTER` (models not served, from two), so ~110 models on the default
    route take one line each per engine and per reason, not 110."""
    by_text: dict[str, list[ServedModel]] = {}
    for row in rows:
        # a reason that names its model ("X is a Text-to-Speech model") is shared as "each"
        by_text.setdefault(row.text.replace(row.model, "each"), []).append(row)
    lines = []
    for text, same in by_text.items():
        # models not served share their reason from two on; served ones past GROUP_AFTER
        if len(same) > (GROUP_AFTER if same[0].label is not None else 1):
            lines.append(f"{len(same)} models → {text}")
        else:
            lines.extend(str(row) for row in same)
    return lines


def _as_label(value: Any) -> EngineLabel:
    # Engines written before labels were data (tests, plugins) still describe with text.
    return value if isinstance(value, EngineLabel) else EngineLabel(str(value))


@dataclass(frozen=True)
class _Serving:
    """How one catalogue model is served: its task, engine and the task's preparation."""

    entry: Any
    task: Any
    engine: Engine
    prepared: Any


class _Broken:
    """Stands in for an engine that could not be created, so health reports it."""

    name = "error"

    def __init__(self, detail: str) -> None:
        self.detail = detail

    async def health(self) -> Health:
        return Health(ok=False, detail=self.detail)


async def _check(engine: Any) -> Health:
    try:
        return await asyncio.wait_for(engine.health(), HEALTH_TIMEOUT)
    except TimeoutError:
        return Health(ok=False, detail=f"no health answer within {HEALTH_TIMEOUT:g}s")
    except Exception as exc:
        return Health(ok=False, detail=f"{type(exc).__name__}: {as_ai_error(exc).description}")


def _fingerprint(layers: list[RouteLayer]) -> list[tuple[str, list[str]]]:
    return [(layer.source, [describe_route(r) for r in layer.routes]) for layer in layers]


def _engine_key(route: Route) -> tuple:
    # Engine-specific options are part of identity: two scripted routes with different
    # texts are two engines, while routes differing only in prompt_format share one.
    return (*route.key(), repr(sorted(route.options.items(), key=lambda kv: kv[0])))
