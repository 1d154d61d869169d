"""Text-to-Speech: text in, speech out (developers.cloudflare.com/workers-ai/models/
aura-1, aura-2-en, melotts):

* Deepgram Aura (`text`, `speaker`, `encoding`, `container`, ...): the audio's bytes,
  a `ReadableStream` to the worker; MP3 (`audio/mpeg`) unless `encoding` asks for
  another, and the REST run endpoint answers the bytes with their type;
* MeloTTS (`prompt`, `lang`): `{"audio": "<base64 MP3>"}`, as the binding returns it
  (the JSON form of its output schema).

Engine request (`TaskRequest.inputs`): `text`, `voice` (speaker or language),
`encoding`, `container`, `sample_rate`. Engine answer: the audio's bytes. The
scripted sample is silence as long as reading the text aloud would take (~0.35 s a
word): an MP3 of silent frames, or with `encoding: linear16` a 16-bit PCM WAV.
"""

from __future__ import annotations

import base64
from typing import Any

from bindings.ai.binary import AiBinary
from bindings.ai.engines.base import TaskRequest
from bindings.ai.tasks import media
from bindings.ai.tasks.base import TEXT_FLAG, CliFlag, Task
from emulator.sdk.attrdict import AttrDict

SECONDS_PER_WORD = 0.35


class TextToSpeech(Task):
    name = "Text-to-Speech"
    capability = "text-to-speech"
    cli_needs = ("text", "prompt")
    cli_flags = (
        TEXT_FLAG,
        CliFlag("--speaker", "The voice (Aura: its speaker names)."),
        CliFlag("--lang", "The language (MeloTTS: en, fr, es, ...)."),
    )

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        request = {
            "text": inputs.get("text", inputs.get("prompt")),
            "voice": inputs.get("speaker", inputs.get("lang")),
            "encoding": inputs.get("encoding"),
            "container": inputs.get("container"),
            "sample_rate": inputs.get("sample_rate"),
        }
        return TaskRequest(entry.name, self.capability, request)

    def shape(self, entry: Any, output: Any) -> Any:
        if not isinstance(output, bytes | bytearray | memoryview):
            return super().shape(entry, output)
        data = bytes(output)
        if "audio" in (entry.json_output().get("properties") or {}):
            result = AttrDict()
            dict.update(result, audio=base64.b64encode(data).decode())
            return result
        return AiBinary(data, media.media_type(data, entry.binary_output() or "audio/mpeg"))

    def sample(self, request: TaskRequest, text: str | None) -> bytes:
        inputs = request.inputs
        words = len((inputs.get("text") or "").split()) or 1
        seconds = words * SECONDS_PER_WORD
        if inputs.get("encoding") == "linear16":
            return media.wav(seconds, int(inputs.get("sample_rate") or 24000))
        return media.mp3(seconds)

    # --- the model page ------------------------------------------------------------------

    # --- edge ai run ---------------------------------------------------------------------

    def cli_adapt(self, entry: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        if "text" in inputs and not entry.accepts("text") and entry.accepts("prompt"):
            inputs["prompt"] = inputs.pop("text")  # MeloTTS names it prompt
        return inputs

    def cli_binary(self, result: Any) -> AiBinary | None:
        return AiBinary(base64.b64decode(result.audio), "audio/mpeg")


TASK = TextToSpeech()
