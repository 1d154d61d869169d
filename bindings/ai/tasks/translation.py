"""Translation: text in, text in another language out (developers.cloudflare.com/
workers-ai/models/m2m100-1.2b, indictrans2-en-indic-1B):

* M2M100 (`text`, `source_lang`, `target_lang`): `{"translated_text"}`;
* IndicTrans2 (`text`: a string or a batch, `target_language`): `{"translations": [...]}`.

Engine request (`TaskRequest.inputs`): `texts` (always a list), `source`, `target`.
Engine answer: the translated texts, in order. The scripted sample is the scripted
text for each, or (echo) each text as it came.
"""

from __future__ import annotations

from typing import Any

from bindings.ai.engines.base import TaskRequest
from bindings.ai.tasks.base import TEXT_FLAG, CliFlag, Task
from emulator.sdk.attrdict import wrap


class Translation(Task):
    name = "Translation"
    capability = "translation"
    cli_needs = ("text",)
    cli_flags = (
        TEXT_FLAG,
        CliFlag("--source-lang", "The text's language code (M2M100; default en)."),
        CliFlag("--target-lang", "The language code to translate to."),
    )

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        text = inputs["text"]
        request = {
            "texts": list(text) if isinstance(text, list) else [text],
            "source": inputs.get("source_lang"),
            "target": inputs.get("target_lang", inputs.get("target_language")),
        }
        return TaskRequest(entry.name, self.capability, request)

    def shape(self, entry: Any, output: Any) -> Any:
        if not isinstance(output, list):
            return super().shape(entry, output)
        if "translations" in (entry.json_output().get("properties") or {}):
            return wrap({"translations": [str(text) for text in output]})
        return wrap({"translated_text": str(output[0]) if output else ""})

    def sample(self, request: TaskRequest, text: str | None) -> list[str]:
        return [item if text is None else text for item in request.inputs["texts"]]


    def cli_adapt(self, entry: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        if "target_lang" in inputs and entry.accepts("target_language"):
            inputs["target_language"] = inputs.pop("target_lang")
        return inputs

    def cli_output(self, result: Any) -> tuple[str, str | None]:
        if "translations" in result:
            return "\n".join(result.translations), None
        return result.translated_text, None


TASK = Translation()
