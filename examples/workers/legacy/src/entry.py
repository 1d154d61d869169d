"""The legacy handler style: module-level `on_fetch(request, env)` and `on_scheduled`."""

from urllib.parse import urlparse

from workers import Response, handler

RUNS: list[str] = []


@handler
async def on_fetch(request, env):
    path = urlparse(request.url).path
    if path == "/":
        return Response(env.MESSAGE)
    if path == "/echo":
        return Response(await request.text(), headers={"content-type": "text/plain"})
    if path == "/runs":
        return Response.json(RUNS)
    return Response("not found", status=404)


@handler
async def on_scheduled(event, env, ctx):
    RUNS.append(event.cron)
