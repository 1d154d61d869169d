"""The scripted turn detector: silence at the end means the turn is over."""

import array
import base64

import pytest

from bindings.ai.engines.base import TaskRequest
from bindings.ai.tasks import media
from bindings.ai.tasks.voice_activity_detection import TASK, tail_level


def pcm(samples: list[float], code: str = "f") -> bytes:
    return array.array(code, samples).tobytes()


def test_tail_level_reads_wav_and_raw_pcm():
    assert tail_level(media.wav(1.0), None) == 0.0
    loud = [0.0] * 16000 + [0.5] * 1000
    assert tail_level(pcm(loud), "float32") == pytest.approx(0.5)
    assert tail_level(pcm(loud, "d"), "float64") == pytest.approx(0.5)
    assert tail_level(bytes([128] * 4000 + [255] * 100), "uint8") == pytest.approx(127 / 128)


@pytest.mark.parametrize(("audio", "text", "complete", "probability"), [
    (pcm([0.0] * 8000), None, True, 0.9),
    (pcm([0.3] * 8000), None, False, 0.1),
    (pcm([0.3] * 8000), "0.8", True, 0.8),
    (pcm([0.0] * 8000), "false", False, 0.05),
])
def test_samples(audio, text, complete, probability):
    request = TaskRequest("m", TASK.capability, {"audio": audio, "dtype": "float32"})
    assert TASK.sample(request, text) == {"is_complete": complete, "probability": probability}


async def test_through_the_service():
    from bindings.ai.catalogue import load_catalogue
    from bindings.ai.engines.scripted import ScriptedEngine
    from bindings.ai.service import AiService

    service = AiService(load_catalogue([]))
    service.set_engine("*", ScriptedEngine())
    audio = base64.b64encode(pcm([0.4] * 4000)).decode()
    result = await service.run("@cf/pipecat-ai/smart-turn-v2", {"audio": audio})
    assert result == {"is_complete": False, "probability": 0.1}
