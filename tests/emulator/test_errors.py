"""emulator.errors: one base class for what edge shows the user, with a hint."""

from __future__ import annotations

import pytest

from bindings.ai.catalogue.errors import CatalogueError
from bindings.ai.engines.gguf import GgufError
from bindings.ai.errors import AiError
from bindings.ai.routing import RouteError
from bindings.ai.serve.spec import ServeError as GpuServeError
from bindings.d1 import D1Error
from bindings.kv import KvError
from bindings.r2 import R2Error
from bindings.storage import StatePathError
from emulator.dev import DevError
from emulator.errors import ConfigError, EdgeError, explain
from emulator.serving import ServeError
from emulator.worker import WorkerLoadError


@pytest.mark.parametrize(
    "cls",
    [ConfigError, WorkerLoadError, D1Error, KvError, R2Error, RouteError, CatalogueError,
     AiError, ServeError, GpuServeError, GgufError, StatePathError, DevError],
)  # fmt: skip
def test_every_user_facing_error_is_an_edge_error(cls):
    assert issubclass(cls, EdgeError)


def test_explain_gives_message_notes_then_hint():
    error = RouteError("'*='", "the engine part is empty")
    error.add_note("(from --ai-route)")
    assert explain(error).splitlines() == [
        "AI route '*=': the engine part is empty",
        "(from --ai-route)",
        f"hint: {RouteError.hint}",
    ]
    assert error.exit_code == 2 and explain(ValueError("plain")) == "plain"
