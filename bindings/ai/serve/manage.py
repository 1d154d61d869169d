"""What edge started, found by the labels on the servers: `edge ai ps` and `edge ai stop`.

`list_served(runtime)` reports each server with its health (`GET <url>/health`) and
whether `edge.toml` in the project it was started for still routes its model there.
`stop_served(runtime, model)` stops and removes the servers, then removes the routes
`edge ai serve` wrote for them (a route the user has since pointed elsewhere stays).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bindings.ai.serve.replica import Served
from bindings.ai.serve.runtime import Runtime


def _found(runtime: Runtime, model: str | None, root: Path | None) -> list[Served]:
    found = runtime.find(model)
    if root is None:
        return found
    return [s for s in found if s.label("root") == str(Path(root).resolve())]


@dataclass(frozen=True)
class Row:
    served: Served
    health: str      # "ok", "starting (503)", "down (connection refused)", "-"
    route: str       # "edge.toml", "not routed", "routed to ...", "no edge.toml"


def list_served(runtime: Runtime, model: str | None = None, *, root: Path | None = None,
                routes_of: Callable[[Path], dict] | None = None) -> list[Row]:
    """`root`: only the servers started for that project."""
    rows = []
    with httpx.Client(timeout=2.0) as client:
        for served in _found(runtime, model, root):
            rows.append(Row(served, _health(client, served), _route(served, routes_of)))
    return rows


def _health(client: httpx.Client, served: Served) -> str:
    if not served.running:
        return "-"
    try:
        status = client.get(served.url + (served.label("health") or "/health")).status_code
    except httpx.HTTPError as exc:
        reason = "connection refused" if isinstance(exc, httpx.ConnectError) else str(exc)
        return f"down ({reason or type(exc).__name__})"
    return "ok" if status == 200 else f"starting ({status})"


def _route(served: Served, routes_of: Callable[[Path], dict] | None) -> str:
    root = served.label("root")
    if not root or routes_of is None:
        return "-"
    try:
        routes = routes_of(Path(root))
    except ValueError as exc:  # a broken edge.toml
        return f"edge.toml unreadable: {exc}"
    route = routes.get(served.model)
    if route is None:
        return f"not routed in {root}/edge.toml"
    urls = route.get("urls") or []
    if served.url in urls:
        return f"{root}/edge.toml"
    return f"edge.toml routes it to {', '.join(urls) or route.get('engine')}"


@dataclass(frozen=True)
class Stopped:
    model: str
    names: list[str]
    route_removed: bool
    root: str


def stop_served(runtime: Runtime, model: str | None, *, root: Path | None = None,
                remove_route: Callable[..., bool]) -> list[Stopped]:
    """Stop and remove edge's servers (of `model`, or all; of the project `root`, or of
    any), and the routes it wrote."""
    by_target: dict[tuple[str, str], list[Served]] = {}
    for served in _found(runtime, model, root):
        by_target.setdefault((served.model, served.label("root")), []).append(served)
    report = []
    for (name, root), servers in by_target.items():
        for served in servers:
            runtime.remove(served)
        removed = False
        if root:
            urls = [s.url for s in servers]
            removed = remove_route(Path(root), name, urls=urls)
        report.append(Stopped(name, [s.name for s in servers], removed, root))
    return report
