"""Summarization: `input_text` (and `max_length`, in tokens) in, `{"summary"}` out
(developers.cloudflare.com/workers-ai/models/bart-large-cnn).

Engine request (`TaskRequest.inputs`): `text`, `max_length`. Engine answer: the
summary. The scripted sample is the scripted text, or (echo) the input's first
sentences, cut to `max_length` words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bindings.ai.engines.base import TaskRequest
from bindings.ai.tasks.base import TEXT_FLAG, CliFlag, CliInputError, Task
from emulator.sdk.attrdict import wrap

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class Summarization(Task):
    name = "Summarization"
    capability = "summarization"
    cli_flags = (TEXT_FLAG, CliFlag("--max-length", "Most tokens in the summary.", int))

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        request = {"text": inputs["input_text"], "max_length": inputs.get("max_length")}
        return TaskRequest(entry.name, self.capability, request)

    def shape(self, entry: Any, output: Any) -> Any:
        return wrap({"summary": output}) if isinstance(output, str) else super().shape(
            entry, output)

    def sample(self, request: TaskRequest, text: str | None) -> str:
        if text is not None:
            return text
        source = request.inputs["text"]
        limit = request.inputs.get("max_length") or 1024
        first = " ".join(_SENTENCE.split(source.strip())[:2])
        return " ".join(first.split()[:limit])

    def cli_inputs(self, values: Mapping[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        if values.get("text") is not None:
            inputs["input_text"] = values["text"]
        if values.get("max_length") is not None:
            inputs["max_length"] = values["max_length"]
        inputs.update(extra)
        if "input_text" not in inputs:
            raise CliInputError("give --text (or --input-json with input_text)")
        return inputs

    def cli_output(self, result: Any) -> tuple[str, str | None]:
        return result.summary, None


TASK = Summarization()
