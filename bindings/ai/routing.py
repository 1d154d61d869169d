"""Which engine serves which catalogue model: routes from CLI flags, env vars or a local file.

Data model first; parsing and resolution below (owned by the AI binding). Routes never
come from `wrangler.toml`, so the worker's config stays deployable with real Wrangler.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from emulator.errors import EdgeError


@dataclass(frozen=True)
class Route:
    """One routing rule.

    `model` is a catalogue name or `*` (every model without a route of its own).
    `engine` is a key of `bindings.ai.engines.ENGINES`. HTTP engines use `urls` (several
    means replicas) and `served_model` (the backend's own model name); llama.cpp uses
    `gguf` (None: the bundled stand-in). `prompt_format` overrides the template
    (`llama2`, `chatml`, `gguf`, `none`). `options` holds engine-specific extras
    (scripted replies, timeouts, context size...), checked against the engine's
    `OPTIONS` and converted when the route is parsed (`bindings.ai.engines.options`).
    """

    model: str
    engine: str
    urls: tuple[str, ...] = ()
    served_model: str | None = None
    gguf: Path | None = None
    prompt_format: str | None = None
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def key(self) -> tuple:
        """Routes with equal keys share one engine instance (one loaded model, one pool)."""
        return (self.engine, self.urls, self.served_model, self.gguf)


# --- parsing -----------------------------------------------------------------------------

#: the route every model falls back to: the embedded llama.cpp engine with the bundled GGUF.
DEFAULT_ROUTE = Route(model="*", engine="llamacpp")

#: the environment variable holding `;`-separated route specs.
ENV_VAR = "EDGE_AI_ROUTES"

#: route-arg keys that fill `Route` fields rather than `Route.options`.
_FIELD_KEYS = {
    "url": "urls",
    "urls": "urls",
    "model": "served_model",
    "served_model": "served_model",
    "gguf": "gguf",
    "prompt_format": "prompt_format",
    "template": "prompt_format",
}

class RouteError(EdgeError, ValueError):
    """A bad route: the message quotes the spec (or file table) and says what is wrong."""

    exit_code = 2  # like a usage error: the routes given are wrong
    hint = (
        "a route is MODEL=ENGINE[:ARG,...], e.g. '*=scripted:echo'; routes come from "
        "--ai-route, EDGE_AI_ROUTES and edge.toml (`edge ai status` lists them)"
    )

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"AI route {source}: {problem}")


def parse_route(spec: str) -> Route:
    """Parse `MODEL=ENGINE[:ARG[,ARG...]]` (see `bindings.ai.engines` for engine names).

    Args are `key=value` or bare. Bare args: an `http(s)://` URL goes to `urls` (several
    are replicas), anything else that looks like a path (contains `/` or ends `.gguf`)
    to `gguf`, and a bare word becomes a flag (`scripted:echo` -> `options["echo"] = True`).
    Keys `url`, `model`/`served_model`, `gguf` and `prompt_format`/`template` fill the
    route's fields; other keys go to `options`, repeated keys collected in a list, and
    are checked and converted by the engine's `OPTIONS` (a `RouteError` names the option
    and what the engine accepts). `\\,` is a literal comma.
    """
    source = repr(spec)
    if not isinstance(spec, str) or "=" not in spec:
        raise RouteError(source, "expected MODEL=ENGINE[:ARG,...], e.g. '*=scripted:echo'")
    model, _, target = spec.partition("=")
    model, target = model.strip(), target.strip()
    if not model:
        raise RouteError(source, "the model part is empty (use '*' for every model)")
    engine, _, argtext = target.partition(":")
    engine = engine.strip()
    if not engine:
        raise RouteError(source, "the engine part is empty (e.g. scripted, llamacpp, vllm, tgi)")
    fields: dict[str, Any] = {"urls": []}
    options: dict[str, Any] = {}
    for raw_arg in _split_escaped(argtext, ","):
        arg = raw_arg.replace("\\;", ";").strip()
        if not arg:
            continue
        key, eq, value = arg.partition("=")
        if not eq or _is_url(arg):
            _bare_arg(arg, fields, options)
            continue
        key = key.strip()
        if not key:
            raise RouteError(source, f"argument {arg!r} has an empty key")
        field_name = _FIELD_KEYS.get(key)
        if field_name == "urls":
            fields["urls"].append(value.strip())
        elif field_name is not None:
            fields[field_name] = value.strip()
        else:
            _add_option(options, key, value)
    return _make_route(model, engine, fields, options, source)


def route_from_table(
    model: str, table: dict[str, Any], *, root: Path | None = None, source: str | None = None
) -> Route:
    """A route from an `edge.toml` table `[ai.routes."MODEL"]` (same fields as `Route`)."""
    source = source or f"[ai.routes.{model!r}]"
    if not isinstance(table, dict):
        raise RouteError(source, f"expected a table, got {type(table).__name__}")
    unknown = set(table) - {
        "engine",
        "urls",
        "url",
        "served_model",
        "model",
        "gguf",
        "prompt_format",
        "template",
        "options",
    }
    if unknown:
        raise RouteError(source, f"unknown key(s) {', '.join(sorted(unknown))}")
    engine = table.get("engine")
    if not isinstance(engine, str) or not engine:
        raise RouteError(source, "'engine' is required (a string such as 'vllm')")
    urls = table.get("urls", table.get("url", []))
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise RouteError(source, "'urls' must be a string or a list of strings")
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise RouteError(source, "'options' must be a table")
    fields: dict[str, Any] = {
        "urls": list(urls),
        "served_model": table.get("served_model", table.get("model")),
        "gguf": table.get("gguf"),
        "prompt_format": table.get("prompt_format", table.get("template")),
    }
    for name in ("served_model", "gguf", "prompt_format"):
        if fields[name] is not None and not isinstance(fields[name], str):
            raise RouteError(source, f"'{name}' must be a string")
    route = _make_route(model, engine, fields, dict(options), source)
    if route.gguf is not None and root is not None and not route.gguf.is_absolute():
        route = _replace(route, gguf=(root / route.gguf))
    return route


def parse_routes(specs: str | list[str] | tuple[str, ...] | None) -> list[Route]:
    """Several specs: a list (one per `--ai-route` flag) or one `;`-separated string
    (`\\;` is a literal semicolon, `\\,` a literal comma)."""
    if not specs:
        return []
    if isinstance(specs, str):
        specs = [specs]
    routes = []
    for item in specs:
        routes.extend(parse_route(part) for part in _split_escaped(item, ";") if part.strip())
    return routes


def _split_escaped(text: str, sep: str) -> list[str]:
    """Split on `sep` except where written `\\<sep>` (which becomes a literal `sep`)."""
    parts, current, i = [], [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] == sep:
            current.append(sep)
            i += 2
            continue
        if char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _is_url(arg: str) -> bool:
    return arg.startswith(("http://", "https://"))


def _bare_arg(arg: str, fields: dict[str, Any], options: dict[str, Any]) -> None:
    if _is_url(arg):
        fields["urls"].append(arg)
    elif "/" in arg or "\\" in arg or arg.endswith(".gguf") or arg.startswith("~"):
        fields["gguf"] = arg
    else:
        options[arg] = True


def _add_option(options: dict[str, Any], key: str, value: Any) -> None:
    if key in options:
        existing = options[key]
        options[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
    else:
        options[key] = value


def _make_route(
    model: str, engine: str, fields: dict[str, Any], options: dict[str, Any], source: str
) -> Route:
    from bindings.ai.engines import checked_options

    for url in fields["urls"]:
        if not _is_url(url):
            raise RouteError(source, f"{url!r} is not an http:// or https:// URL")
    try:
        options = checked_options(engine, options)
    except ValueError as exc:
        raise RouteError(source, str(exc)) from None
    gguf = fields.get("gguf")
    return Route(
        model=model,
        engine=engine,
        urls=tuple(u.rstrip("/") for u in fields["urls"]),
        served_model=fields.get("served_model") or None,
        gguf=Path(gguf).expanduser() if gguf else None,
        prompt_format=fields.get("prompt_format") or None,
        options=options,
    )


def _replace(route: Route, **changes: Any) -> Route:
    return replace(route, **changes)


# --- resolution --------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteLayer:
    """Routes from one source (`--ai-route`, `EDGE_AI_ROUTES`, `edge.toml`, the default)."""

    source: str
    routes: tuple[Route, ...]

    def match(self, model: str) -> Route | None:
        """Exact name first, then glob patterns (the longest first), then `*`.

        Among routes for the same pattern the last one given wins, like repeated flags.
        """
        exact = [r for r in self.routes if r.model == model]
        if exact:
            return exact[-1]
        globs = [
            r
            for r in self.routes
            if r.model != "*" and _is_glob(r.model) and fnmatch.fnmatchcase(model, r.model)
        ]
        if globs:
            best = max(len(r.model) for r in globs)
            return [r for r in globs if len(r.model) == best][-1]
        star = [r for r in self.routes if r.model == "*"]
        return star[-1] if star else None


class RouteTable:
    """Which route serves each model: layers in precedence order, CLI > env > file > default.

    A model takes its route from the first layer that has any match for it (its exact
    name, a glob, or `*`), so `--ai-route '*=scripted:echo'` sends every model to the
    scripted engine even when `edge.toml` routes some of them elsewhere.
    """

    def __init__(
        self, layers: list[RouteLayer] | None = None, default: Route | None = DEFAULT_ROUTE
    ) -> None:
        self.layers = [layer for layer in (layers or []) if layer.routes]
        if default is not None:
            self.layers.append(RouteLayer("default", (default,)))
        self._task_defaults: dict[str, Route] = {}

    def resolve(self, model: str, task_engine: str | None = None) -> Route:
        """The route of `model`; where only the default route matches, `task_engine` (the
        model's task's `default_engine`, e.g. `encoder` for embeddings) replaces it."""
        for layer in self.layers:
            route = layer.match(model)
            if route is not None:
                if layer.source == "default" and task_engine and task_engine != route.engine:
                    return self._task_defaults.setdefault(
                        task_engine, Route(model="*", engine=task_engine))
                return route
        raise RouteError(repr(model), "no route serves this model and there is no default")

    def source_of(self, route: Route) -> str:
        for layer in self.layers:
            if any(r is route for r in layer.routes):
                return layer.source
        if any(r is route for r in self._task_defaults.values()):
            return "default"
        return "?"

    def explicit_routes(self) -> list[tuple[str, Route]]:
        """Every configured route with its source (the default excluded)."""
        return [
            (layer.source, r)
            for layer in self.layers
            if layer.source != "default"
            for r in layer.routes
        ]


def describe_route(route: Route) -> str:
    """A route written back as a spec string (for messages and `edge ai status`)."""
    args = [*route.urls]
    if route.gguf is not None:
        args.append(str(route.gguf))
    if route.served_model:
        args.append(f"model={route.served_model}")
    if route.prompt_format:
        args.append(f"prompt_format={route.prompt_format}")
    for key, value in route.options.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, float) and item.is_integer():
                item = int(item)  # timeout=5 reads back as written, not as 5.0
            args.append(key if item is True else f"{key}={item}")
    args = [arg.replace(",", "\\,").replace(";", "\\;") for arg in args]
    return f"{route.model}={route.engine}" + (":" + ",".join(args) if args else "")


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")
