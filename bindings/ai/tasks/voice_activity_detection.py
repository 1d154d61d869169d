"""Voice Activity Detection: a stretch of a conversation's audio in, whether the
speaker's turn is over out (developers.cloudflare.com/workers-ai/models/smart-turn-v2):
`audio` as base64 or `{"body", "contentType"}`, `dtype` of its raw PCM samples
(uint8, float32, float64) in; `{"is_complete", "probability"}` out.

Engine request (`TaskRequest.inputs`): `audio` (bytes), `dtype` (None: a WAV, or
float32). Engine answer: `{"is_complete", "probability"}`. The scripted sample reads
a scripted probability ("0.8", or "true"/"false"); echo: the turn is complete when the
audio's last 200 ms are near silence (a loudness check, not a model).
"""

from __future__ import annotations

import array
import io
import wave
from typing import Any

from bindings.ai.binary import as_bytes
from bindings.ai.engines.base import TaskRequest
from bindings.ai.tasks.base import AUDIO_FLAG, Task
from emulator.sdk.attrdict import wrap

TAIL_SECONDS = 0.2
RATE = 16000
#: peak level (of 1.0) under which the tail counts as silence.
QUIET = 0.02
_TYPES = {"uint8": ("B", 128.0, 128.0), "float32": ("f", 0.0, 1.0), "float64": ("d", 0.0, 1.0)}


def tail_level(audio: bytes, dtype: str | None) -> float:
    """The peak level (0..1) of the audio's last `TAIL_SECONDS`."""
    if audio[:4] == b"RIFF":
        try:
            with wave.open(io.BytesIO(audio)) as file:
                rate, width = file.getframerate(), file.getsampwidth()
                frames = file.readframes(file.getnframes())
        except (wave.Error, EOFError):
            return 1.0
        if width != 2:
            return 1.0
        samples = array.array("h", frames[: len(frames) // 2 * 2])
        tail = samples[-int(rate * TAIL_SECONDS) * file.getnchannels():]
        return max((abs(s) for s in tail), default=0) / 32768
    code, zero, scale = _TYPES.get(dtype or "float32", _TYPES["float32"])
    size = array.array(code).itemsize
    samples = array.array(code, audio[: len(audio) // size * size])
    tail = samples[-int(RATE * TAIL_SECONDS):]
    return min(1.0, max((abs(s - zero) / scale for s in tail), default=0.0))


class VoiceActivityDetection(Task):
    name = "Voice Activity Detection"
    capability = "voice-activity-detection"
    binary_input = "audio"
    cli_needs = ("audio",)
    cli_flags = (AUDIO_FLAG,)

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        audio = as_bytes(inputs.get("audio"), field="audio")
        return TaskRequest(entry.name, self.capability, {"audio": audio,
                                                         "dtype": inputs.get("dtype")})

    def shape(self, entry: Any, output: Any) -> Any:
        if isinstance(output, dict):
            return wrap({"is_complete": bool(output["is_complete"]),
                         "probability": float(output["probability"])})
        return super().shape(entry, output)

    def sample(self, request: TaskRequest, text: str | None) -> dict[str, Any]:
        if text is not None:
            word = text.strip().lower()
            probability = {"true": 0.95, "false": 0.05}.get(word)
            if probability is None:
                try:
                    probability = min(1.0, max(0.0, float(word)))
                except ValueError:
                    probability = 0.5
        else:
            quiet = tail_level(request.inputs["audio"], request.inputs.get("dtype")) < QUIET
            probability = 0.9 if quiet else 0.1
        return {"is_complete": probability >= 0.5, "probability": probability}



TASK = VoiceActivityDetection()
