"""The usage snippets of a catalogue page, rewritten to run against this emulator.

Cloudflare's model pages show "Worker - Streaming", "Worker" (TypeScript), "Python"
(`requests`) and "curl". Our users write Python Workers, so the Worker snippets are a
Python `Default(WorkerEntrypoint)` (run with `edge dev`); the `requests` and curl ones
are Cloudflare's own, with the base URL of this emulator instead of api.cloudflare.com.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SYSTEM = "You are a friendly assistant"
QUESTION = "What is the origin of the phrase Hello, World"


@dataclass(frozen=True)
class Snippet:
    key: str  # stable id (tests and anchors)
    title: str
    language: str
    code: str
    note: str = ""


def accepts_messages(input_schema: dict[str, Any]) -> bool:
    branches = input_schema.get("oneOf", [input_schema])
    return any("messages" in (b.get("properties") or {}) for b in branches if isinstance(b, dict))


def snippets(model: str, input_schema: dict[str, Any], base_url: str) -> list[Snippet]:
    """Every snippet for `model`; `base_url` is where this API is served (no trailing /)."""
    chat = accepts_messages(input_schema)
    base = base_url.rstrip("/")
    items = [
        Snippet("worker-streaming", "Worker - Streaming", "python", _worker(model, chat, True)),
        Snippet("worker", "Worker", "python", _worker(model, chat, False)),
        Snippet(
            "wrangler",
            "wrangler.toml",
            "toml",
            WRANGLER,
            note="Put the worker in src/entry.py beside this file, then run `edge dev`.",
        ),
        Snippet("python", "Python", "python", _python(model, chat, base)),
        Snippet("curl", "curl", "shell", _curl(model, chat, base)),
    ]
    if chat:
        items.append(Snippet("openai", "OpenAI SDK", "python", _openai(model, base)))
    return items


WRANGLER = """\
name = "ai-worker"
main = "src/entry.py"
compatibility_date = "2025-01-01"
compatibility_flags = ["python_workers"]

[ai]
binding = "AI"
"""


def _worker(model: str, chat: bool, stream: bool) -> str:
    if chat:
        setup = (
            "        messages = [\n"
            f'            {{"role": "system", "content": "{SYSTEM}"}},\n'
            f'            {{"role": "user", "content": "{QUESTION}"}},\n'
            "        ]\n"
        )
        inputs = '{"messages": messages, "stream": True}' if stream else '{"messages": messages}'
    else:
        setup = f'        prompt = "{QUESTION}"\n'
        inputs = '{"prompt": prompt, "stream": True}' if stream else '{"prompt": prompt}'
    if stream:
        call = (
            "        stream = await self.env.AI.run(\n"
            f'            "{model}",\n'
            f"            {inputs},\n"
            "        )\n"
            '        return Response(stream, headers={"content-type": "text/event-stream"})\n'
        )
    else:
        call = (
            "        response = await self.env.AI.run(\n"
            f'            "{model}",\n'
            f"            {inputs},\n"
            "        )\n"
            "        return Response.json(response)\n"
        )
    return (
        "from workers import Response, WorkerEntrypoint\n\n\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n" + setup + call
    )


def _python(model: str, chat: bool, base: str) -> str:
    if chat:
        body = (
            "    json={\n"
            '        "messages": [\n'
            f'            {{"role": "system", "content": "{SYSTEM}"}},\n'
            '            {"role": "user", "content": prompt}\n'
            "        ]\n"
            "    }\n"
        )
    else:
        body = '    json={"prompt": prompt}\n'
    return (
        "import os\n"
        "import requests\n\n"
        'ACCOUNT_ID = "your-account-id"\n'
        'AUTH_TOKEN = os.environ.get("CLOUDFLARE_AUTH_TOKEN")\n\n'
        'prompt = "Tell me all about PEP-8"\n'
        "response = requests.post(\n"
        f'    f"{base}/client/v4/accounts/{{ACCOUNT_ID}}/ai/run/{model}",\n'
        '    headers={"Authorization": f"Bearer {AUTH_TOKEN}"},\n' + body + ")\n"
        "result = response.json()\n"
        "print(result)\n"
    )


def _curl(model: str, chat: bool, base: str) -> str:
    if chat:
        payload = {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Why is pizza so good"},
            ]
        }
    else:
        payload = {"prompt": "Why is pizza so good"}
    data = json.dumps(payload)
    return (
        f"curl {base}/client/v4/accounts/$CLOUDFLARE_ACCOUNT_ID/ai/run/{model} \\\n"
        "  -X POST \\\n"
        '  -H "Authorization: Bearer $CLOUDFLARE_AUTH_TOKEN" \\\n'
        f"  -d '{data}'\n"
    )


def _openai(model: str, base: str) -> str:
    account = "{os.environ.get('CLOUDFLARE_ACCOUNT_ID', 'local')}"
    return (
        "import os\n"
        "from openai import OpenAI\n\n"
        "client = OpenAI(\n"
        '    api_key=os.environ.get("CLOUDFLARE_AUTH_TOKEN", "none"),\n'
        f'    base_url=f"{base}/client/v4/accounts/{account}/ai/v1",\n'
        ")\n"
        "chat = client.chat.completions.create(\n"
        f'    model="{model}",\n'
        '    messages=[{"role": "user", "content": "Make some robot noises"}],\n'
        ")\n"
        "print(chat.choices[0].message.content)\n"
    )
