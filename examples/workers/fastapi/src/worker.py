"""FastAPI on a Python Worker: routes, a JSON body, a streaming response and bindings
read from `request.scope["env"]`, served by the runtime's ASGI adapter (`import asgi`)."""

import asyncio

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from workers import WorkerEntrypoint

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        import asgi

        return await asgi.fetch(app, request.js_object, self.env)


app = FastAPI()


@app.get("/")
async def root():
    return {"message": "Hello, World!"}


@app.get("/env")
async def env(req: Request):
    return {"message": req.scope["env"].MESSAGE}


class Note(BaseModel):
    title: str
    body: str = ""


@app.put("/notes/{name}", status_code=201)
async def put_note(name: str, note: Note, req: Request):
    await req.scope["env"].NOTES.put(name, note.model_dump_json())
    return {"saved": name}


@app.get("/notes/{name}")
async def get_note(name: str, req: Request):
    stored = await req.scope["env"].NOTES.get(name, "json")
    if stored is None:
        raise HTTPException(status_code=404, detail=f"no note {name!r}")
    return stored


@app.post("/ask")
async def ask(req: Request):
    question = (await req.json())["question"]
    reply = await req.scope["env"].AI.run(MODEL, {"prompt": question})
    return {"answer": reply["response"]}


@app.get("/count")
async def count(to: int = 3):
    async def numbers():
        for i in range(1, to + 1):
            yield f"{i}\n"
            await asyncio.sleep(0.01)

    return StreamingResponse(numbers(), media_type="text/plain")
