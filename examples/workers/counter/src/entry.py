"""Counters as Durable Objects: one object per counter name, strongly consistent.

    POST /counters/<name>/increment?by=2   -> {"name": ..., "value": ...}   (RPC)
    GET  /counters/<name>                  -> {"name": ..., "value": ...}   (RPC)
    GET  /counters/<name>/history          -> the last increments, from SQL  (RPC)
    POST /counters/<name>/expire?seconds=5 -> reset the counter later (an alarm)
    GET  /counters/<name>/raw              -> the object's own fetch() handler

Runs unchanged on Cloudflare (`npx wrangler deploy`) and locally with `edge dev`.
"""

import time
from urllib.parse import parse_qs, urlparse

from workers import DurableObject, Response, WorkerEntrypoint


class Counter(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        # runs before any event reaches this object (the constructor's table setup)
        ctx.storage.sql.exec(
            "CREATE TABLE IF NOT EXISTS increments (at INTEGER NOT NULL, amount INTEGER NOT NULL)"
        )

    async def increment(self, amount=1):
        # storage calls never let another event in, so this read-modify-write is safe
        value = (await self.ctx.storage.get("value") or 0) + amount
        await self.ctx.storage.put("value", value)
        self.ctx.storage.sql.exec(
            "INSERT INTO increments (at, amount) VALUES (?, ?)", int(time.time() * 1000), amount
        )
        return value

    async def value(self):
        return await self.ctx.storage.get("value") or 0

    async def history(self, limit=10):
        rows = self.ctx.storage.sql.exec(
            "SELECT at, amount FROM increments ORDER BY rowid DESC LIMIT ?", limit
        )
        return rows.toArray()

    async def expire_in(self, seconds):
        await self.ctx.storage.setAlarm(time.time() * 1000 + seconds * 1000)
        return await self.ctx.storage.getAlarm()

    async def alarm(self, alarm_info=None):
        # writes with no await between them commit together: never half a reset
        self.ctx.storage.delete("value")
        self.ctx.storage.sql.exec("DELETE FROM increments")

    async def fetch(self, request):
        return Response.json({"id": str(self.ctx.id), "value": await self.value()})


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        parts = [p for p in url.path.split("/") if p]
        if len(parts) < 2 or parts[0] != "counters":
            return Response("try POST /counters/<name>/increment", status=404)
        name, action = parts[1], (parts[2] if len(parts) > 2 else "")
        query = parse_qs(url.query)
        counter = self.env.COUNTER.getByName(name)

        if action == "increment" and request.method == "POST":
            by = int(query.get("by", ["1"])[0])
            return Response.json({"name": name, "value": await counter.increment(by)})
        if action == "" and request.method == "GET":
            return Response.json({"name": name, "value": await counter.value()})
        if action == "history":
            return Response.json(await counter.history())
        if action == "expire" and request.method == "POST":
            seconds = float(query.get("seconds", ["60"])[0])
            return Response.json({"name": name, "expires_at": await counter.expire_in(seconds)})
        if action == "raw":
            return await counter.fetch(request)
        return Response(f"no route for {request.method} {url.path}", status=404)
