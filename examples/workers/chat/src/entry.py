"""Chat with Llama 2 13B through Workers AI: JSON at `/`, server-sent events at `/stream`.

The model page's "Worker" and "Worker - Streaming" examples, in Python. POST a JSON body
`{"messages": [{"role": "...", "content": "..."}], "max_tokens": 256}` (both optional;
without messages the page's own conversation is used). Runs unchanged on Cloudflare.
"""

import json
from urllib.parse import urlparse

from workers import Response, WorkerEntrypoint

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"

DEFAULT_MESSAGES = [
    {"role": "system", "content": "You are a friendly assistant"},
    {"role": "user", "content": "What is the origin of the phrase Hello, World"},
]


def error(message, status=400):
    return Response.json({"error": message}, status=status)


async def read_inputs(request):
    """The AI inputs from the request body; a 400 Response when the body is unusable."""
    if request.method == "GET":
        return {"messages": DEFAULT_MESSAGES}
    text = await request.text()
    if not text.strip():
        return {"messages": DEFAULT_MESSAGES}
    try:
        body = json.loads(text)
    except ValueError as exc:
        return error(f"the body is not JSON: {exc}")
    if not isinstance(body, dict):
        return error('the body must be a JSON object like {"messages": [...]}')
    inputs = {"messages": body.get("messages", DEFAULT_MESSAGES)}
    if "max_tokens" in body:
        inputs["max_tokens"] = body["max_tokens"]
    return inputs  # the AI binding validates the rest against the model's schema


def ai_error(exc):
    """Workers AI errors read "<code>: <description>"; 5006/5007 are the caller's fault."""
    message = str(exc)
    code = message.split(":", 1)[0]
    return error(message, status=400 if code in ("5006", "5007") else 502)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlparse(request.url).path
        if path not in ("/", "/stream"):
            return error(f"no route {path}; use / (JSON) or /stream (SSE)", status=404)
        if request.method not in ("GET", "POST"):
            return error(f"{request.method} is not allowed; use POST", status=405)
        inputs = await read_inputs(request)
        if isinstance(inputs, Response):
            return inputs
        try:
            if path == "/stream":
                stream = await self.env.AI.run(MODEL, {**inputs, "stream": True})
                return Response(stream, headers={"content-type": "text/event-stream"})
            response = await self.env.AI.run(MODEL, inputs)
            return Response.json(response)
        except Exception as exc:  # on Cloudflare a JsException, here an AiError: same message
            return ai_error(exc)
