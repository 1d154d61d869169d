"""Hello world as a Cloudflare Python Worker: routes, JSON, streaming, cron, wait_until.

Runs unchanged on Cloudflare (`npx wrangler deploy`) and locally with `edge dev`.
"""

import asyncio
from urllib.parse import parse_qs, urlparse

from workers import Response, WorkerEntrypoint

# What the last cron run saw; module state lives as long as this version of the worker.
SCHEDULED_RUNS: list[dict] = []


async def countdown(n: int, delay: float):
    """A streamed body: each line goes out as soon as it is produced."""
    for i in range(n, 0, -1):
        yield f"{i}...\n"
        await asyncio.sleep(delay)
    yield "liftoff!\n"


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        path = url.path

        if path == "/":
            return Response(f"{self.env.GREETING}, world!")

        if path == "/echo" and request.method == "POST":
            data = await request.json()
            return Response.json({"you_sent": data, "method": request.method})

        if path == "/headers":
            return Response.json(dict(request.headers.items()))

        if path == "/env":
            token = getattr(self.env, "API_TOKEN", None)
            return Response.json(
                {"greeting": self.env.GREETING, "has_api_token": token is not None}
            )

        if path == "/stream":
            query = parse_qs(url.query)
            n = int(query.get("n", ["3"])[0])
            delay = float(query.get("delay", ["0.2"])[0])
            return Response(countdown(n, delay), headers={"content-type": "text/plain"})

        if path == "/later":
            # runs after the response is sent, like ctx.waitUntil() on Cloudflare
            self.ctx.wait_until(asyncio.sleep(0.01))
            return Response("scheduled background work")

        if path == "/scheduled-runs":
            return Response.json(SCHEDULED_RUNS)

        if path == "/redirect":
            return Response.redirect(url._replace(path="/", query="").geturl(), 302)

        if path == "/error":
            raise RuntimeError("this route fails on purpose")

        return Response(f"no route for {path}", status=404)

    async def scheduled(self, controller, env, ctx):
        SCHEDULED_RUNS.append({"cron": controller.cron, "time": controller.scheduledTime})
