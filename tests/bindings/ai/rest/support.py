"""Constants and builders shared by the REST API tests (fixtures are in conftest.py)."""

from __future__ import annotations

from bindings.ai.service import AiService
from emulator.local_settings import AiSettings

CHAT_MODEL = "@hf/thebloke/llama-2-13b-chat-awq"
FP16_MODEL = "@cf/meta/llama-2-7b-chat-fp16"
TOKEN = "t0ken-for-tests"
ACCOUNT = "0123456789abcdef0123456789abcdef"


def scripted_service() -> AiService:
    return AiService.from_settings(AiSettings.from_specs(["*=scripted:echo"]))


def run_url(base: str, model: str, account: str = ACCOUNT) -> str:
    return f"{base}/client/v4/accounts/{account}/ai/run/{model}"


# --- stand-in tasks, for pages of tasks whose modules are not under test here -----------

#: a valid 1x1 PNG (a page must be able to decode what it shows)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2e5d6"
    "ba0000000049454e44ae426082"
)


def _size(inputs: dict) -> int:
    """How many bytes the file input carried, however it was encoded."""
    import base64

    for key in ("image", "audio"):
        value = inputs.get(key)
        if isinstance(value, list):
            return len(value)
        if isinstance(value, str):
            return len(base64.b64decode(value.split(",", 1)[-1]))
    return -1


#: Cloudflare task name -> what a stand-in task answers for a request's inputs.
STAND_IN_SAMPLES = {
    "Text-to-Image": lambda inputs: PNG,
    "Text-to-Speech": lambda inputs: (
        {"audio": "SUQzBAAAAAAAAA=="} if "prompt" in inputs else b"ID3\x04" + bytes(60)),
    "Image Classification": lambda inputs: [{"label": f"{_size(inputs)} bytes", "score": 1.0}],
    "Automatic Speech Recognition": lambda inputs: {"text": f"heard {_size(inputs)} bytes"},
    "Text Classification": lambda inputs: [{"label": "POSITIVE", "score": 0.9}],
}


def stand_in_tasks(monkeypatch) -> None:
    """Put a stand-in task in the task table for each of `STAND_IN_SAMPLES` (answering
    through the scripted engine), so pages of those tasks can be run end to end."""
    import sys
    import types

    from bindings.ai import tasks
    from bindings.ai.tasks.base import Task

    for name, answer in STAND_IN_SAMPLES.items():
        slug = "-".join(name.lower().split())

        class StandIn(Task):
            capability = f"test-{slug}"

            def sample(self, request, text, _answer=answer):
                return _answer(request.inputs)

        StandIn.name = name
        module = types.ModuleType(f"tests_stand_in_{slug.replace('-', '_')}")
        module.TASK = StandIn()
        monkeypatch.setitem(sys.modules, module.__name__, module)
        monkeypatch.setitem(tasks.TASKS, name, module.__name__)
