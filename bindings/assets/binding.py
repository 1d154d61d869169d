"""`[assets]`: static files served before the worker, and `env.<binding>.fetch(request)`.

Routing follows Cloudflare's router worker (workers-sdk
`packages/workers-shared/router-worker/src/worker.ts`) and
https://developers.cloudflare.com/workers/static-assets/routing/worker-script/:

- `run_worker_first = false` (default): a request an asset answers (a file, an HTML
  handling redirect, a `_redirects` rule, a 405 for POST to a file) never reaches the
  worker; the rest do. Not-found handling (`single-page-application`, `404-page`)
  answers only navigation requests (`Sec-Fetch-Mode: navigate`), so `fetch("/api/x")`
  from a page still reaches the worker. Before compatibility date 2025-04-01 (or with
  `assets_navigation_has_no_effect`) a miss always runs the worker, as on Cloudflare.
- `run_worker_first = true`: every request runs the worker; assets only through
  `env.ASSETS.fetch(request)`.
- `run_worker_first = ["/api/*", "!/api/docs/*"]`: matching paths run the worker first,
  `!` patterns always go to assets (they win), the rest as with `false`.

`env.ASSETS.fetch(request)` is the asset worker with the full configuration: a missing
file gets the not-found page, or an empty 404. Config errors use Wrangler's wording.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bindings.assets.files import AssetFiles
from bindings.assets.rules import RoutePatterns, parse_route_patterns
from bindings.assets.server import AssetConfig, AssetServer
from bindings.contract import BindingHost, BindingKind, BindingSpec, Field, Middleware
from emulator.errors import ConfigError
from emulator.sdk import Request, Response

#: `assets_navigation_prefers_asset_serving` is on by default from this date.
NAVIGATION_FLAG_DATE = "2025-04-01"
NAVIGATION_ON = "assets_navigation_prefers_asset_serving"
NAVIGATION_OFF = "assets_navigation_has_no_effect"


class Assets:
    """`env.ASSETS`: `await env.ASSETS.fetch(request)` (a `Request`, `request.js_object`
    or a URL string) answers from the assets directory."""

    def __init__(self, server: AssetServer, directory: Path, run_worker_first: Any) -> None:
        self.server = server
        self.directory = directory
        self.run_worker_first = run_worker_first

    async def fetch(self, request: Any, init: Any = None) -> Response:
        if isinstance(request, str):
            request = Request(request, **(dict(init) if init else {}))
        elif not isinstance(request, Request):
            url = getattr(request, "url", None)
            if not isinstance(url, str):
                raise TypeError(
                    "env.ASSETS.fetch() takes a Request (or request.js_object) or a URL string, "
                    f"got {type(request).__name__}"
                )
            request = Request(url, method=getattr(request, "method", "GET"),
                              headers=getattr(request, "headers", None))  # fmt: skip
        response = self.server.handle(request)
        assert response is not None
        return response

    def describe(self) -> list[str]:
        first = self.run_worker_first
        routing = (
            "worker first" if first is True else
            f"worker first for {', '.join(first)}" if isinstance(first, list) else "assets first"
        )  # fmt: skip
        return [f"{self.directory} ({routing})"]


def _config_error(host: BindingHost, key: str, message: str) -> ConfigError:
    file = host.config.file if host.config is not None else "[assets]"
    return ConfigError(file, f"assets.{key}", message)


def build(spec: BindingSpec, host: BindingHost) -> Assets:
    options = spec.options
    config = host.config
    root = config.root if config is not None else Path.cwd()
    directory = (root / options["directory"]).resolve()
    if not directory.is_dir():
        raise _config_error(
            host, "directory",
            'The directory specified by the "assets.directory" field in your configuration '
            f"file does not exist: {directory}",
        )  # fmt: skip
    run_worker_first = options.get("run_worker_first", False)
    if isinstance(run_worker_first, list):
        try:
            parse_route_patterns(run_worker_first)
        except ValueError as exc:
            raise _config_error(host, "run_worker_first", str(exc)) from None
    flags = config.compatibility_flags if config is not None else []
    date = (config.compatibility_date if config is not None else None) or "2021-11-02"
    navigation = NAVIGATION_ON in flags or (
        date >= NAVIGATION_FLAG_DATE and NAVIGATION_OFF not in flags
    )
    server_config = AssetConfig(
        html_handling=options.get("html_handling", "auto-trailing-slash"),
        not_found_handling=options.get("not_found_handling", "none"),
        navigation_prefers_assets=navigation,
    )
    files = host.shared(f"assets:{directory}", lambda: AssetFiles(directory))
    return Assets(AssetServer(files, server_config), directory, run_worker_first)


def middleware(spec: BindingSpec, assets: Assets, host: BindingHost) -> Middleware | None:
    """Assets before the worker, as Cloudflare routes; None for `run_worker_first = true`
    (the worker sees every request)."""
    first = assets.run_worker_first
    if first is True:
        return None
    patterns: RoutePatterns | None = None
    if isinstance(first, list):
        patterns = parse_route_patterns(first)
    server = assets.server

    async def serve_assets_first(request: Request, ctx: Any, call_next: Any) -> Response:
        if patterns is not None:
            route = patterns.route(_path(request.url))
            if route == "worker":
                return await call_next(request, ctx)
            if route == "assets":
                response = server.handle(request)
                assert response is not None
                return response
        response = server.handle(request, as_router=True)
        if response is None:
            return await call_next(request, ctx)
        return response

    return serve_assets_first


def _path(url: str) -> str:
    start = url.find("/", url.find("//") + 2)
    if start < 0:
        return "/"
    end = min((i for i in (url.find("?", start), url.find("#", start)) if i >= 0), default=len(url))
    return url[start:end]


def describe(assets: Assets) -> list[str]:
    return assets.describe()


async def startup(assets: Assets) -> None:
    assets.server.read_rules()


KIND = BindingKind(
    "assets",
    "Assets",
    shape="table",
    optional_name=True,
    inheritable=True,
    fields={
        "directory": Field(required=True),
        "html_handling": Field(
            pattern="auto-trailing-slash|force-trailing-slash|drop-trailing-slash|none",
            expected='one of "auto-trailing-slash", "force-trailing-slash", '
            '"drop-trailing-slash", "none"',
        ),
        "not_found_handling": Field(
            pattern="single-page-application|404-page|none",
            expected='one of "single-page-application", "404-page", "none"',
        ),
        "run_worker_first": Field(
            type=(bool, list), what="a boolean or an array of route patterns"
        ),
    },
    value_keys=("directory",),
    build=build,
    describe=describe,
    startup=startup,
    middleware=middleware,
)
