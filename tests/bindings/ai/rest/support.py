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
