"""`ClientWatch` and `CancelOnDisconnect`: the client leaving cancels its request's task."""

from __future__ import annotations

import asyncio

import pytest

from emulator.disconnect import CancelOnDisconnect, ClientWatch, has_body


class Server:
    """An ASGI server's `receive`: body messages, then `http.disconnect` once `leave()`."""

    def __init__(self, *chunks: bytes) -> None:
        self.messages = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ] or [{"type": "http.request", "body": b"", "more_body": False}]
        self.taken = 0
        self.left = asyncio.Event()

    async def receive(self):
        if self.messages:
            self.taken += 1
            return self.messages.pop(0)
        await self.left.wait()
        return {"type": "http.disconnect"}


def test_has_body():
    assert not has_body([(b"host", b"x")])
    assert not has_body([(b"content-length", b"0")])
    assert has_body([(b"content-length", b"12")])
    assert has_body([(b"transfer-encoding", b"chunked")])


async def test_a_leaving_client_cancels_the_watched_task_once():
    server = Server()
    outcome = []

    async def handler():
        client = ClientWatch(server.receive, body=False)
        client.watch()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            outcome.append(client.absorb())
        finally:
            client.unwatch()
        await asyncio.sleep(0)  # the task goes on: the cancellation was withdrawn
        outcome.append(asyncio.current_task().cancelling())

    task = asyncio.ensure_future(handler())
    await asyncio.sleep(0.01)
    server.left.set()
    await asyncio.wait_for(task, 1)
    assert outcome == [True, 0]


async def test_another_cancellation_is_not_absorbed():
    server = Server()
    absorbed = []

    async def handler():
        client = ClientWatch(server.receive, body=False)
        client.watch()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            absorbed.append(client.absorb())
            raise
        finally:
            client.unwatch()

    task = asyncio.ensure_future(handler())
    await asyncio.sleep(0.01)
    task.cancel()  # e.g. the server shutting down
    with pytest.raises(asyncio.CancelledError):
        await task
    assert absorbed == [False]


async def test_the_body_is_the_apps_and_read_only_when_asked():
    server = Server(b"ab", b"cd")
    client = ClientWatch(server.receive, body=True)
    client.watch(now=True)
    await asyncio.sleep(0.01)
    assert server.taken == 0  # the watcher waits for the app to read the body
    first = await client.receive()
    second = await client.receive()
    assert (first["body"], second["body"], second["more_body"]) == (b"ab", b"cd", False)
    client.unwatch()


async def test_a_request_without_body_still_gets_its_one_empty_message():
    server = Server()
    client = ClientWatch(server.receive, body=False)
    client.watch()
    message = await client.receive()
    assert message == {"type": "http.request", "body": b"", "more_body": False}
    waiting = asyncio.ensure_future(client.receive())  # e.g. Starlette listening
    await asyncio.sleep(0.01)
    assert not waiting.done()
    server.left.set()
    assert (await asyncio.wait_for(waiting, 1))["type"] == "http.disconnect"
    client.unwatch()


async def test_no_cancellation_after_unwatch():
    server = Server()
    client = ClientWatch(server.receive, body=False)
    client.watch(now=True)
    await asyncio.sleep(0)  # the watcher is running
    client.unwatch()
    server.left.set()
    await asyncio.sleep(0.01)  # would raise CancelledError here if the watcher still ran
    assert not client.gone


async def test_middleware_cancels_the_app_and_lets_its_cleanup_await():
    cleaned = asyncio.Event()

    async def app(scope, receive, send):
        try:
            await asyncio.sleep(10)
        finally:
            await asyncio.sleep(0.01)  # edge-triggered: clean-up may still await
            cleaned.set()

    server = Server()
    scope = {"type": "http", "headers": []}
    task = asyncio.ensure_future(CancelOnDisconnect(app)(scope, server.receive, None))
    await asyncio.sleep(0.01)
    server.left.set()
    await asyncio.wait_for(task, 1)  # ends normally: nobody to answer
    assert cleaned.is_set()
