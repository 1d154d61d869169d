"""Builders for the usage snippets of a model page, rewritten to run against this emulator.

Cloudflare's model pages show "Worker - Streaming", "Worker" (TypeScript), "Python"
(`requests`) and "curl". Our users write Python Workers, so the Worker snippets are a
Python `Default(WorkerEntrypoint)` (run with `edge dev`); the `requests` and curl ones
are Cloudflare's own, with the base URL of this emulator instead of api.cloudflare.com;
the `cloudflare` SDK one calls `client.ai.run` (cloudflare-python's `AIResource.run`:
its named inputs as keywords, any other through `extra_body`). Each task picks its
example inputs (`bindings.ai.tasks.examples` derives them from the schema); `standard()`
is the set most tasks show.

Images and audio (`examples.FileInput`) are read from a file named in the snippet, and a
Worker reads them from the request's body (POST the file to the worker). Inputs that
only a Worker can pass (a `ReadableStream`) get the Worker snippet alone.
"""

from __future__ import annotations

import json
from typing import Any

from bindings.ai.tasks.base import Snippet
from bindings.ai.tasks.examples import FileInput, files_in

#: the inputs `cloudflare`'s `client.ai.run` takes as keywords (cloudflare-python 4.x,
#: `resources/ai/ai.py`); others go in `extra_body`.
SDK_KEYWORDS = frozenset({
    "text", "prompt", "guidance", "height", "image", "image_b64", "mask", "negative_prompt",
    "num_steps", "seed", "strength", "width", "lang", "audio", "source_lang", "target_lang",
    "frequency_penalty", "lora", "max_tokens", "presence_penalty", "raw",
    "repetition_penalty", "response_format", "stream", "temperature", "top_k", "top_p",
    "messages", "functions", "tools", "input_text", "max_length", "ignore_eos",
})


class Code(str):
    """Python source `py_literal` writes as is (an expression, not a string literal)."""

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
    if isinstance(value, Code):
        return str(value)
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


def python_requests(model: str, base: str, setup: str, body: str, output: str | None = None,
                    imports: str = "") -> str:
    """Cloudflare's `requests` snippet: `setup` (top-level code), then a POST with `body`
    (the `json=` argument's source); `output` saves a binary answer to that file."""
    if output:
        end = f'with open("{output}", "wb") as file:\n    file.write(response.content)\n'
    else:
        end = "result = response.json()\nprint(result)\n"
    return (
        imports + "import os\n"
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
    """Cloudflare's curl snippet; `output` writes a binary answer to that file. A payload
    with files is written by a `python3 -c` line reading them, piped to curl."""
    save = f" \\\n  --output {output}" if output else ""
    files = files_in(payload)
    if files:
        code = (_imports(files) + f'data = open("{files[0].filename}", "rb").read()\n'
                + f"print(json.dumps({py_literal(_with_code(payload, _expression), 0)}))")
        head = "python3 -c '" + code.replace("'", "'\\''") + "' \\\n  | "
        body = "--data-binary @-"
    else:
        head, body = "", "-d '" + json.dumps(payload).replace("'", "'\\''") + "'"
    return (
        f"{head}curl {base}/client/v4/accounts/$CLOUDFLARE_ACCOUNT_ID/ai/run/{model} \\\n"
        "  -X POST \\\n"
        '  -H "Authorization: Bearer $CLOUDFLARE_AUTH_TOKEN" \\\n'
        f"  {body}{save}\n"
    )


def cloudflare_sdk(model: str, base: str, inputs: dict[str, Any],
                   output: str | None = None) -> str:
    """The official `cloudflare` SDK: `client.ai.run(...)`, or its raw response saved to
    `output` for a binary answer (the SDK would try to read it as JSON)."""
    files = files_in(inputs)
    setup = f'with open("{files[0].filename}", "rb") as file:\n    data = file.read()\n\n' \
        if files else ""
    values = _with_code(inputs, _expression)
    keywords = {k: v for k, v in values.items() if k in SDK_KEYWORDS}
    extra = {k: v for k, v in values.items() if k not in SDK_KEYWORDS}
    args = [f'    "{model}",', "    account_id=ACCOUNT_ID,"]
    args += [f"    {key}={py_literal(value, 4)}," for key, value in keywords.items()]
    if extra:
        args.append(f"    extra_body={py_literal(extra, 4)},")
    call = "client.ai.with_raw_response.run(" if output else "client.ai.run("
    end = (f'with open("{output}", "wb") as file:\n    file.write(response.http_response.content)\n'
           if output else "print(response)\n")
    return (
        _imports(files).replace("import json\n", "") + "import os\n"
        "\nfrom cloudflare import Cloudflare\n\n"
        'ACCOUNT_ID = "your-account-id"\n\n'
        "client = Cloudflare(\n"
        '    api_token=os.environ.get("CLOUDFLARE_AUTH_TOKEN", "none"),\n'
        f'    base_url="{base}/client/v4",\n'
        ")\n" + setup + f"response = {call}\n" + "\n".join(args) + "\n)\n" + end
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
    """Worker, wrangler.toml, `cloudflare` SDK, Python and curl snippets sending `inputs`
    to `entry` (the Worker alone when an input is a stream)."""
    base = base_url.rstrip("/")
    media = entry.binary_output()
    extension = (media or "").rsplit("/", 1)[-1].replace("mpeg", "mp3").replace("jpeg", "jpg")
    output = f"output.{extension}" if media else None
    files = files_in(inputs)
    items = [Snippet("worker", "Worker", "python", _file_worker(entry.name, inputs, media),
                     note=_worker_note(files)), wrangler()]
    if any(file.streamed for file in files):
        return items
    setup = f'with open("{files[0].filename}", "rb") as file:\n    data = file.read()\n\n' \
        if files else ""
    body = py_literal(_with_code(inputs, _expression), 4)
    return [
        *items,
        Snippet("sdk", "Python (cloudflare SDK)", "python",
                cloudflare_sdk(entry.name, base, inputs, output)),
        Snippet("python", "Python (requests)", "python",
                python_requests(entry.name, base, setup, body, output,
                                _imports(files).replace("import json\n", ""))),
        Snippet("curl", "curl", "shell", curl(entry.name, base, inputs, output)),
    ]


def _file_worker(model: str, inputs: dict[str, Any], media: str | None) -> str:
    files = files_in(inputs)
    setup = ""
    if any(not file.streamed for file in files):
        setup = "        data = await request.bytes()\n"
    code = worker(model, setup, py_literal(_with_code(inputs, _worker_expression), 12),
                  media or "json")
    imports = _imports(files).replace("import json\n", "")
    return imports + ("\n" if imports else "") + code


def _worker_note(files: list[FileInput]) -> str:
    if not files:
        return ""
    file = files[0]
    if file.kind == "form":
        return ("POST the form to the worker, e.g. curl -F prompt='cyberpunk cat' "
                "http://localhost:8787/ (it passes the body on as a stream).")
    header = f" -H 'content-type: {file.media_type}'" if file.streamed else ""
    return (f"POST the {file.kind} to the worker, e.g. curl --data-binary @{file.filename}"
            f"{header} http://localhost:8787/")


def _expression(file: FileInput) -> Code:
    """Python source for a file's value, from bytes in `data`."""
    if file.encoding == "bytes":
        return Code("list(data)")
    encoded = "base64.b64encode(data).decode()"
    if file.encoding == "data_uri":
        return Code(f'"data:{file.media_type};base64," + {encoded}')
    return Code(encoded)


def _worker_expression(file: FileInput) -> Code:
    if file.streamed:
        return Code('{"body": request.body, "contentType": request.headers.get("content-type")}')
    return _expression(file)


def _imports(files: list[FileInput]) -> str:
    needed = any(file.encoding in ("base64", "data_uri") for file in files)
    return ("import base64\n" if needed else "") + ("import json\n" if files else "")


def _with_code(value: Any, render: Any) -> Any:
    """`value` with each `FileInput` replaced by `render(file)`."""
    if isinstance(value, FileInput):
        return render(value)
    if isinstance(value, dict):
        return {key: _with_code(item, render) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_code(item, render) for item in value]
    return value
