"""Testing a FastAPI worker in-process with edge's pytest plugin (`pytest
examples/workers/fastapi`): the same ASGI adapter as on Cloudflare, real KV, scripted AI."""

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"


async def test_routes_and_env(edge_worker):
    worker = edge_worker()
    assert await (await worker.fetch("/")).json() == {"message": "Hello, World!"}
    assert await (await worker.fetch("/env")).json() == {"message": "Hello from FastAPI on edge"}
    assert (await edge_worker(vars={"MESSAGE": "hi"}).fetch("/env")).status == 200


async def test_json_body_is_validated_and_stored_in_kv(edge_worker):
    worker = edge_worker()
    saved = await worker.fetch("/notes/today", method="PUT", json={"title": "Ship it"})
    assert saved.status == 201
    assert await saved.json() == {"saved": "today"}
    assert await worker.env.NOTES.get("today", "json") == {"title": "Ship it", "body": ""}
    note = await worker.fetch("/notes/today")
    assert await note.json() == {"title": "Ship it", "body": ""}

    missing = await worker.fetch("/notes/nope")
    assert missing.status == 404
    assert await missing.json() == {"detail": "no note 'nope'"}
    invalid = await worker.fetch("/notes/x", method="PUT", json={"body": "no title"})
    assert invalid.status == 422  # FastAPI's validation error, as on Cloudflare


async def test_ai_through_the_env(edge_worker, ai_script):
    ai_script.set(MODEL, "Because of Rayleigh scattering.")
    response = await edge_worker().fetch("/ask", json={"question": "Why is the sky blue?"})
    assert await response.json() == {"answer": "Because of Rayleigh scattering."}
    assert ai_script.last_call.inputs["prompt"] == "Why is the sky blue?"


async def test_streaming_response_arrives_in_chunks(edge_worker):
    response = await edge_worker().fetch("/count?to=3")
    assert response.headers.get("content-type") == "text/plain; charset=utf-8"
    assert [line async for line in response.iter_lines()] == ["1", "2", "3"]
