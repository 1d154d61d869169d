"""Builders for the usage snippets of a model page, rewritten to run against this emulator.

Cloudflare's model pages show "Worker - Streaming", "Worker" (TypeScript), "Python"
(`requests`) and "curl". Our users write Python Workers, so the Worker snippets are a
Python `Default(WorkerEntrypoint)` (run with `edge dev`); the `requests` and curl ones
are Cloudflare's own, with the base URL of this emulator instead of api.cloudflare.com.
Each task picks its example inputs; `standard()` is the set most tasks show.
"""

from __future__ import annotations

import json
from typing import Any

from bindings.ai.tasks.base import Snippet

WRANGLER = """\
name = "ai-worker"
main = "src/entry.py"
compatibility_date = "2025-01-01"
compatibility_flags = ["python_workers"]

[ai]
binding = "AI"
"""

_HEAD = "from workers import Response, WorkerEntrypoint\n\n\nclass Default(WorkerEntrypoint):\n"


def py_literal(value: Any, indent: int = 0) -> str:
    """`value` (JSON-like) as Python source, one item per line for non-empty containers."""
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {py_literal(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value and not all(_scalar(v) for v in value):
        items = [f"{inner}{py_literal(v, indent + 4)}," for v in value]
        return "[\n" + "\n".join(items) + f"\n{pad}]"
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}"
    if value is None or isinstance(value, bool):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def worker(model: str, setup: str, inputs: str, output: str = "json") -> str:
    """A Python Worker calling `env.AI.run(model, <inputs>)` after `setup` (indented code).

    `output`: "json" (`Response.json`), "sse" (the stream, as `text/event-stream`), or a
    media type for binary outputs (the bytes, with that content type).
    """
    name = "stream" if output == "sse" else "response"
    call = (
        f"        {name} = await self.env.AI.run(\n"
        f'            "{model}",\n'
        f"            {inputs},\n"
        "        )\n"
    )
    if output == "json":
        ret = "        return Response.json(response)\n"
    else:
        media = "text/event-stream" if output == "sse" else output
        ret = f'        return Response({name}, headers={{"content-type": "{media}"}})\n'
    return _HEAD + "    async def fetch(self, request):\n" + setup + call + ret


def python_requests(model: str, base: str, setup: str, body: str, output: str | None = None) -> str:
    """Cloudflare's `requests` snippet: `setup` (top-level code), then a POST with `body`
    (the `json=` argument's source); `output` saves a binary answer to that file."""
    if output:
        end = f'with open("{output}", "wb") as file:\n    file.write(response.content)\n'
    else:
        end = "result = response.json()\nprint(result)\n"
    return (
        "import os\n"
        "import requests\n\n"
        'ACCOUNT_ID = "your-account-id"\n'
        'AUTH_TOKEN = os.environ.get("CLOUDFLARE_AUTH_TOKEN")\n\n'
        + setup
        + "response = requests.post(\n"
        f'    f"{base}/client/v4/accounts/{{ACCOUNT_ID}}/ai/run/{model}",\n'
        '    headers={"Authorization": f"Bearer {AUTH_TOKEN}"},\n'
        f"    json={body}\n"
        ")\n" + end
    )


def curl(model: str, base: str, payload: dict[str, Any], output: str | None = None) -> str:
    """Cloudflare's curl snippet; `output` writes a binary answer to that file."""
    save = f" \\\n  --output {output}" if output else ""
    return (
        f"curl {base}/client/v4/accounts/$CLOUDFLARE_ACCOUNT_ID/ai/run/{model} \\\n"
        "  -X POST \\\n"
        '  -H "Authorization: Bearer $CLOUDFLARE_AUTH_TOKEN" \\\n'
        f"  -d '{json.dumps(payload)}'{save}\n"
    )


def wrangler() -> Snippet:
    return Snippet(
        "wrangler",
        "wrangler.toml",
        "toml",
        WRANGLER,
        note="Put the worker in src/entry.py beside this file, then run `edge dev`.",
    )


def standard(entry: Any, inputs: dict[str, Any], base_url: str) -> list[Snippet]:
    """Worker, wrangler.toml, Python and curl snippets sending `inputs` to `entry`."""
    base = base_url.rstrip("/")
    media = entry.binary_output()
    extension = (media or "").rsplit("/", 1)[-1].replace("mpeg", "mp3").replace("jpeg", "jpg")
    output = f"output.{extension}" if media else None
    code = worker(entry.name, "", py_literal(inputs, 12), media or "json")
    return [
        Snippet("worker", "Worker", "python", code),
        wrangler(),
        Snippet("python", "Python", "python",
                python_requests(entry.name, base, "", py_literal(inputs, 4), output)),
        Snippet("curl", "curl", "shell", curl(entry.name, base, inputs, output)),
    ]
