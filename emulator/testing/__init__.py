"""Testing worker code in-process: `load_worker()` gives a `TestWorker` to `await
worker.fetch(...)` without a server; `AiScript` scripts `env.AI` replies per model.
The pytest plugin (`emulator.testing.plugin`) wraps both in fixtures."""

from bindings.ai.errors import AiError
from emulator.testing.ai_script import AiScript, Call, ScriptError, Stream, stream
from emulator.testing.harness import ScheduledResult, TestWorker, load_worker
from emulator.testing.response import SSEEvent, TestResponse

__all__ = [
    "AiError",
    "AiScript",
    "Call",
    "SSEEvent",
    "ScheduledResult",
    "ScriptError",
    "Stream",
    "TestResponse",
    "TestWorker",
    "load_worker",
    "stream",
]
