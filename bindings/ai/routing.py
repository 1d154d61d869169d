"""Which engine serves which catalogue model: routes from CLI flags, env vars or a local file.

Data model first; parsing and resolution below (owned by the AI binding). Routes never
come from `wrangler.toml`, so the worker's config stays deployable with real Wrangler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Route:
    """One routing rule.

    `model` is a catalogue name or `*` (every model without a route of its own).
    `engine` is a key of `bindings.ai.engines.ENGINES`. HTTP engines use `urls` (several
    means replicas) and `served_model` (the backend's own model name); llama.cpp uses
    `gguf` (None: the bundled stand-in). `prompt_format` overrides the template
    (`llama2`, `chatml`, `gguf`, `none`). `options` holds engine-specific extras
    (scripted replies, timeouts, context size...).
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
