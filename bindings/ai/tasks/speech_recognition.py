"""Automatic Speech Recognition: audio in, a transcript out, in each model's shape
(developers.cloudflare.com/workers-ai/models/whisper, whisper-large-v3-turbo, nova-3;
workers-types' `Ai_Cf_Openai_Whisper*_Output`, `Ai_Cf_Deepgram_Nova_3_Output`):

* Whisper, Whisper tiny (audio as a byte array, or the raw bytes on the REST API):
  `{"text", "word_count", "words": [{"word", "start", "end"}], "vtt"}`;
* Whisper large v3 turbo (audio as base64): `{"transcription_info": {"language",
  "language_probability", "duration", "duration_after_vad"}, "text", "word_count",
  "segments": [...], "vtt"}`. `segments` is a list, as workers-types declares it and
  the model returns it; the published JSON schema says `object`, a slip of the record;
* Deepgram Nova 3 (audio as `{"body", "contentType"}`): `{"results": {"channels":
  [{"alternatives": [{"confidence", "transcript", "words"}]}]}}`.

Deepgram Flux is served over a WebSocket only (its outputs are WebSocket events):
`run()` on it is a 5006 saying so.

Engine request (`TaskRequest.inputs`): `audio` (bytes), `language`, `task`
("transcribe" or "translate"), `initial_prompt`, `prefix` (None when not given).
Engine answer: `{"text", "words": [{"word", "start", "end"}], "duration",
"language"}`. The scripted sample spreads the scripted text (or a note saying how
long the audio is) evenly over the audio's duration (read from a WAV or MP3 header).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bindings.ai.binary import as_bytes
from bindings.ai.engines.base import TaskRequest
from bindings.ai.errors import AiError
from bindings.ai.tasks import media
from bindings.ai.tasks.base import AUDIO_FLAG, CliFlag, Task
from emulator.sdk.attrdict import wrap

#: bytes per second assumed for audio whose duration no header tells (16 kHz 16-bit PCM).
RAW_RATE = 32000


def vtt(words: list[dict[str, Any]]) -> str:
    """WebVTT with one cue per word, as Workers AI's Whisper answers."""
    cues = [f"{_stamp(w['start'])} --> {_stamp(w['end'])}\n{w['word']}" for w in words]
    return "WEBVTT\n\n" + "\n\n".join(cues) + ("\n" if cues else "")


def _stamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


class SpeechRecognition(Task):
    name = "Automatic Speech Recognition"
    capability = "automatic-speech-recognition"
    binary_input = "audio"
    cli_needs = ("audio",)
    cli_flags = (
        AUDIO_FLAG,
        CliFlag("--language", "The audio's language (Whisper large v3 turbo, Nova 3)."),
    )

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        if entry.json_output().get("description", "").startswith("Output will be returned as "
                                                                 "websocket"):
            raise AiError(5006, f"{entry.name} is served over a WebSocket only (its output is "
                                "a stream of WebSocket events); edge does not emulate it "
                                "through run()")
        request = {key: inputs.get(key) for key in ("language", "task", "initial_prompt",
                                                    "prefix")}
        request["audio"] = as_bytes(inputs.get("audio"), field="audio")
        return TaskRequest(entry.name, self.capability, request)

    def shape(self, entry: Any, output: Any) -> Any:
        if not isinstance(output, Mapping) or "words" not in output:
            return super().shape(entry, output)
        text, words = output["text"], [dict(w) for w in output["words"]]
        form = entry.json_output().get("properties") or {}
        if "results" in form:  # Deepgram
            alternative = {"confidence": 0.99, "transcript": text,
                           "words": [{**w, "confidence": 0.99} for w in words]}
            return wrap({"results": {"channels": [{"alternatives": [alternative]}]}})
        result: dict[str, Any] = {"text": text, "word_count": len(words)}
        duration = float(output.get("duration") or (words[-1]["end"] if words else 0.0))
        if "transcription_info" in form:
            result = {
                "transcription_info": {
                    "language": output.get("language") or "en",
                    "language_probability": 1.0,
                    "duration": duration,
                    "duration_after_vad": duration,
                },
                **result,
                "segments": [{
                    "start": 0.0, "end": duration, "text": text, "temperature": 0.0,
                    "avg_logprob": -0.1, "compression_ratio": 1.0, "no_speech_prob": 0.0,
                    "words": words,
                }] if words else [],
            }
        else:
            result["words"] = words
        result["vtt"] = vtt(words)
        return wrap(result)

    def sample(self, request: TaskRequest, text: str | None) -> dict[str, Any]:
        audio = request.inputs["audio"]
        duration = media.audio_seconds(audio) or len(audio) / RAW_RATE
        if text is None:
            text = f"Scripted transcript of {duration:.1f} seconds of audio."
        tokens = text.split()
        step = duration / len(tokens) if tokens else 0.0
        words = [{"word": word, "start": round(i * step, 3), "end": round((i + 1) * step, 3)}
                 for i, word in enumerate(tokens)]
        return {"text": text, "words": words, "duration": round(duration, 3),
                "language": request.inputs.get("language") or "en"}

    # --- the model page ------------------------------------------------------------------

    # --- edge ai run ---------------------------------------------------------------------

    def cli_output(self, result: Any) -> tuple[str, str | None]:
        if "results" in result:
            return result.results.channels[0].alternatives[0].transcript, None
        return result.text, f"[{result.get('word_count', 0)} words]"


TASK = SpeechRecognition()
