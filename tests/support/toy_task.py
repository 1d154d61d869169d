"""A toy task, added the way a real one is (this module plus one `TASKS` row), to prove the
contract of `bindings.ai.tasks`: batched input, JSON or binary output, its own capability,
scripted samples, page snippets and CLI flags.

"Text Reversal": `text` (a string or a batch of strings) in; out `{"reversed": [...]}`,
or, for a model whose output schema is binary, the reversed texts as UTF-8 bytes joined
by newlines. Engine-level result: the list of reversed strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bindings.ai.engines.base import TaskRequest
from bindings.ai.tasks.base import CliFlag, CliInputError, Task

NAME = "Text Reversal"
CAPABILITY = "text-reversal"


class TextReversal(Task):
    name = NAME
    capability = CAPABILITY
    cli_flags = (CliFlag("--text", "The text to reverse (repeat the model for a batch)."),)

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        text = inputs["text"]
        return TaskRequest(entry.name, CAPABILITY, {"texts": text if isinstance(text, list)
                                                    else [text]})

    def shape(self, entry: Any, output: Any) -> Any:
        binary = entry.binary_output()
        return super().shape(entry, "\n".join(output).encode() if binary else {"reversed": output})

    def sample(self, request: TaskRequest, text: str | None) -> list[str]:
        texts = request.inputs["texts"]
        return [(text if text is not None else item)[::-1] for item in texts]

    def example_inputs(self, entry: Any) -> dict[str, Any]:
        return {"text": ["stressed", "drawer"]}

    def cli_inputs(self, values: Mapping[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        inputs = {"text": values["text"]} if "text" in values else {}
        inputs.update(extra)
        if "text" not in inputs:
            raise CliInputError("give --text")
        return inputs


class ReversingEngine:
    """A real (not scripted) engine for the toy task: it declares only its capability."""

    name = "reverser"
    capabilities = frozenset({CAPABILITY})

    def __init__(self) -> None:
        self.requests: list[TaskRequest] = []

    def describe(self, model: str) -> str:
        return "reverser"

    def prompt_format(self, model: str) -> None:
        return None

    async def infer(self, request: TaskRequest) -> list[str]:
        self.requests.append(request)
        return [text[::-1] for text in request.inputs["texts"]]

    async def health(self) -> Any:
        from bindings.ai.engines.base import Health

        return Health(ok=True, detail="reverser")

    async def close(self) -> None:
        pass


TASK = TextReversal()

_SCHEMA_IN = (
    '{"type": "object", "properties": {"text": {"oneOf": [{"type": "string", "minLength": 1},'
    ' {"type": "array", "items": {"type": "string"}, "maxItems": 3}]}}, "required": ["text"]}'
)


def entry_text(name: str, output: str) -> str:
    """A catalogue entry file of the toy task (`output`: its output schema's JSON)."""
    return (
        "---\n"
        "model:\n"
        f"  name: \"{name}\"\n"
        "  description: Reverses text.\n"
        f"  task: {{id: toy, name: {NAME}, description: Reverse text}}\n"
        "json_schema:\n"
        f"  input: '{_SCHEMA_IN}'\n"
        f"  output: '{output}'\n"
        "---\n"
    )


JSON_OUT = ('{"type": "object", "contentType": "application/json", "properties": {"reversed":'
            ' {"type": "array", "items": {"type": "string"}}}}')
BINARY_OUT = '{"type": "string", "format": "binary", "contentType": "text/x-reversed"}'
