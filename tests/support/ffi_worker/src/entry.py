from js import JSON, URL, Date, Headers, Object, Response, console
from pyodide.ffi import JsException, create_proxy, to_js
from workers import WorkerEntrypoint


def as_object(data):
    return to_js(data, dict_converter=Object.fromEntries)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = URL.new(request.url)
        console.log("ffi worker:", request.method, url.pathname)
        if url.pathname == "/hello":
            return Response.new("Hello World!")
        if url.pathname == "/json":
            return Response.json(as_object({"path": url.pathname, "q": url.searchParams.get("q")}))
        if url.pathname == "/headers":
            headers = Headers.new({"content-type": "application/json", "x-edge": "1"}.items())
            return Response.new(JSON.stringify(as_object({"ok": True})), headers=headers,
                                status=201)
        if url.pathname == "/echo":
            body = (await request.js_object.arrayBuffer()).to_bytes()
            kind = request.headers.get("content-type") or "application/octet-stream"
            return Response.new(body, headers=Object.fromEntries([("content-type", kind)]))
        if url.pathname == "/kv":
            await self.env.KV.put("when", Date.new(0).toISOString())
            stored = await self.env.KV.list()
            return Response.json(as_object({"keys": [k.name for k in stored["keys"]],
                                            "when": await self.env.KV.get("when")}))
        if url.pathname == "/error":
            try:
                JSON.parse("{bad")
            except JsException as error:
                return Response.new(f"{error.name}: {error.message}", status=400)
        if url.pathname == "/proxy":
            callback = create_proxy(lambda x: x * 2)
            try:
                return Response.new(str(callback(21)))
            finally:
                callback.destroy()
        return Response.new("not found", status=404)
