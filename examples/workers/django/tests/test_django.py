"""Testing a Django worker in-process with edge's pytest plugin (`pytest
examples/workers/django`): WSGI through `workers.wsgi`, the ORM on a local D1 database
through django-cf, a fresh database per test."""

import pytest


@pytest.fixture
async def site(edge_worker):
    worker = edge_worker()
    migrated = await worker.fetch("/migrate/", method="POST")  # creates the tables in D1
    assert await migrated.json() == {"migrated": True}
    return worker


async def test_plain_view(edge_worker):
    response = await edge_worker().fetch("/")
    assert response.headers.get("content-type") == "text/plain"
    assert await response.text() == "Hello from Django on localhost"


async def test_notes_are_stored_in_d1(site):
    created = await site.fetch("/notes/", json={"title": "first", "body": "hello"})
    assert created.status == 201
    assert await created.json() == {"id": 1, "title": "first", "body": "hello"}
    await site.fetch("/notes/", json={"title": "second"})

    listing = await site.fetch("/notes/")
    assert [n["title"] for n in (await listing.json())["notes"]] == ["first", "second"]
    rows = await site.env.DB.prepare("SELECT title FROM notes_note ORDER BY id").all()
    assert [row["title"] for row in rows.results] == ["first", "second"]

    assert (await (await site.fetch("/notes/2/")).json())["title"] == "second"
    assert (await site.fetch("/notes/99/")).status == 404


async def test_wrong_method_and_streaming(site):
    assert (await site.fetch("/migrate/")).status == 405
    response = await site.fetch("/stream/")
    assert [line async for line in response.iter_lines()] == ["line 0", "line 1", "line 2"]
