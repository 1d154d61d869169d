"""Engines: one module per kind of inference backend, behind `base.Engine`.

Like `llm`'s model plugins: each module exposes `create(route) -> Engine`,
`CAPABILITIES` (the task capabilities its engines serve, `bindings.ai.tasks`) and
`OPTIONS` (the route options it accepts, `engines.options`; checked when routes are
parsed, so `create` gets them converted), and this table is the only place that lists
them. `bindings.ai.routing` decides which route (and so which engine instance) serves
each catalogue model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bindings.ai.engines.base import Engine
    from bindings.ai.routing import Route

#: engine name (as written in a route) -> module exposing `create(route) -> Engine`.
ENGINES: dict[str, str] = {
    "scripted": "bindings.ai.engines.scripted",
    "llamacpp": "bindings.ai.engines.llamacpp",
    "vllm": "bindings.ai.engines.vllm",
    "tgi": "bindings.ai.engines.tgi",
    "encoder": "bindings.ai.engines.encoder",
    "tei": "bindings.ai.engines.tei",
}


def checked_options(engine: str, options: dict[str, Any]) -> dict[str, Any]:
    """A route's options for `engine`, converted; `ValueError` naming what it accepts."""
    from bindings.ai.engines.options import check_options

    module_name = ENGINES.get(engine)
    if module_name is None:
        raise ValueError(f"unknown AI engine {engine!r} (known: {', '.join(sorted(ENGINES))})")
    accepted = getattr(importlib.import_module(module_name), "OPTIONS", {})
    return check_options(engine, accepted, options)


def create_engine(route: Route) -> Engine:
    """Build the engine a route names; unknown names are a `ValueError` listing the known ones."""
    module_name = ENGINES.get(route.engine)
    if module_name is None:
        known = ", ".join(sorted(ENGINES))
        raise ValueError(f"unknown AI engine {route.engine!r} (known: {known})")
    return importlib.import_module(module_name).create(route)


def engines_serving(capability: str) -> list[str]:
    """The engines declaring `capability`: those naming it first, then catch-alls (scripted)."""
    named, every = [], []
    for name, module_name in ENGINES.items():
        declared = getattr(importlib.import_module(module_name), "CAPABILITIES", frozenset())
        if capability in declared:
            named.append(name)
        elif "*" in declared:
            every.append(name)
    return named + every
