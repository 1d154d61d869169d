"""Engines: one module per kind of inference backend, behind `base.Engine`.

Like `llm`'s model plugins: each module exposes `create(route) -> Engine` and
`CAPABILITIES` (the task capabilities its engines serve, `bindings.ai.tasks`), and this
table is the only place that lists them. `bindings.ai.routing` decides which route (and
so which engine instance) serves each catalogue model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bindings.ai.engines.base import Engine
    from bindings.ai.routing import Route

#: engine name (as written in a route) -> module exposing `create(route) -> Engine`.
ENGINES: dict[str, str] = {
    "scripted": "bindings.ai.engines.scripted",
    "llamacpp": "bindings.ai.engines.llamacpp",
    "vllm": "bindings.ai.engines.vllm",
    "tgi": "bindings.ai.engines.tgi",
}


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
