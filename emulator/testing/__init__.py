"""Testing worker code in-process: `load_worker()` gives a `TestWorker` to `await
worker.fetch(...)` without a server; `AiScript` scripts `env.AI` replies per model.
The pytest plugin (`emulator.testing.plugin`) wraps both in fixtures.

Names are imported on first use: pytest imports the plugin (a submodule of this package)
in every run, and that must not cost the whole emulator's import time.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AiError": "bindings.ai.errors",
    "AiScript": "emulator.testing.ai_script",
    "Call": "emulator.testing.ai_script",
    "ScriptError": "emulator.testing.ai_script",
    "Stream": "emulator.testing.ai_script",
    "stream": "emulator.testing.ai_script",
    "ScheduledResult": "emulator.testing.harness",
    "TestWorker": "emulator.testing.harness",
    "load_worker": "emulator.testing.harness",
    "list_durable_object_ids": "bindings.durable_objects.testing",
    "run_durable_object_alarm": "bindings.durable_objects.testing",
    "run_in_durable_object": "bindings.durable_objects.testing",
    "SSEEvent": "emulator.testing.response",
    "TestResponse": "emulator.testing.response",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'emulator.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
