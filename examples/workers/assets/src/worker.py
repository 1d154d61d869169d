"""The API beside a static site: public/ is served before this worker runs, except
for /api/* (run_worker_first), and the worker reads assets itself through env.ASSETS."""

import json
from urllib.parse import parse_qs, urlparse

from workers import Request, Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        query = parse_qs(url.query)
        if url.path == "/api/hello":
            name = query.get("name", ["world"])[0]
            return Response.json({"message": f"Hello, {name}!", "site": self.env.SITE_NAME})
        if url.path == "/api/asset":
            # Read a static file from the worker: env.ASSETS.fetch answers like the site does.
            path = query.get("path", ["/"])[0]
            asset = await self.env.ASSETS.fetch(Request(f"{url.scheme}://{url.netloc}{path}"))
            body = await asset.text()
            return Response.json(
                {
                    "path": path,
                    "status": asset.status,
                    "content_type": asset.headers.get("content-type"),
                    "bytes": len(body.encode()),
                }
            )
        if url.path.startswith("/api/"):
            return Response(
                json.dumps({"error": f"no API route {url.path}"}),
                status=404,
                headers={"content-type": "application/json"},
            )
        # Not an asset and not a browser navigation (those get 404.html): e.g. fetch().
        return Response("Not found", status=404)
