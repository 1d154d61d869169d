"""R2 binding: objects, bodies, metadata, conditionals, ranges, listing, persistence."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from bindings import r2, registry
from bindings.r2 import R2Error
from bindings.registry import BindingHost
from emulator.config import BindingSpec


@pytest.fixture
async def host(tmp_path):
    host = BindingHost(state_dir=tmp_path / "state")
    yield host
    await host.close()


def spec(**options):
    return BindingSpec("r2_buckets", "FILES", {"binding": "FILES", **options})


@pytest.fixture
def bucket(host):
    return r2.build(spec(bucket_name="my-files"), host)


async def test_put_get_head_delete(bucket):
    assert await bucket.get("a.txt") is None and await bucket.head("a.txt") is None
    written = await bucket.put("a.txt", "héllo", httpMetadata={"contentType": "text/plain"},
                               customMetadata={"owner": "ada"})  # fmt: skip
    assert written.key == "a.txt" and written.size == len("héllo".encode())
    assert written.etag == hashlib.md5("héllo".encode()).hexdigest()
    assert written.httpEtag == f'"{written.etag}"' and written.http_etag == written.httpEtag
    assert written.uploaded.tzinfo is not None
    obj = await bucket.get("a.txt")
    assert await obj.text() == "héllo"
    assert obj.httpMetadata.contentType == "text/plain"
    assert obj.customMetadata == {"owner": "ada"} and obj.custom_metadata.owner == "ada"
    assert obj.bodyUsed is True
    with pytest.raises(TypeError, match="already been used"):
        await obj.text()
    head = await bucket.head("a.txt")
    assert head.size == written.size and not hasattr(head, "body")
    await bucket.delete("a.txt")
    assert await bucket.get("a.txt") is None
    await bucket.delete(["a.txt", "never"])  # missing keys are fine


async def test_bodies(bucket):
    await bucket.put("j", b'{"a": [1, 2]}')
    assert (await (await bucket.get("j")).json()).a == [1, 2]
    assert await (await bucket.get("j")).arrayBuffer() == b'{"a": [1, 2]}'

    async def stream():
        for i in range(3):
            yield bytes([65 + i]) * 100_000

    await bucket.put("big", stream())
    obj = await bucket.get("big")
    chunks = [chunk async for chunk in obj.body]
    assert len(chunks) > 1  # streamed in pieces, not one buffer
    assert b"".join(chunks) == b"A" * 100_000 + b"B" * 100_000 + b"C" * 100_000
    empty = await bucket.put("empty", None)
    assert empty.size == 0 and await (await bucket.get("empty")).text() == ""


async def test_ranges(bucket):
    await bucket.put("r", "0123456789")
    assert await (await bucket.get("r", range={"offset": 2, "length": 3})).text() == "234"
    assert await (await bucket.get("r", range={"suffix": 4})).text() == "6789"
    tail = await bucket.get("r", {"range": {"offset": 7}})
    assert await tail.text() == "789" and tail.range == {"offset": 7, "length": 3}
    with pytest.raises(R2Error, match="range"):
        await bucket.get("r", range={"offset": 99})


async def test_conditional_get_and_put(bucket):
    first = await bucket.put("c", "v1")
    hit = await bucket.get("c", onlyIf={"etagMatches": first.etag})
    assert await hit.text() == "v1"
    miss = await bucket.get("c", onlyIf={"etagDoesNotMatch": first.etag})
    assert miss is not None and not hasattr(miss, "body") and miss.etag == first.etag
    assert await bucket.put("c", "v2", onlyIf={"etagMatches": "nope"}) is None
    assert await (await bucket.get("c")).text() == "v1"
    later = datetime.now(tz=UTC) + timedelta(hours=1)
    second = await bucket.put("c", "v2", onlyIf={"etagMatches": first.httpEtag})
    assert second is not None
    assert await bucket.get("c", onlyIf={"uploadedAfter": later}) is not None
    assert not hasattr(await bucket.get("c", onlyIf={"uploadedAfter": later}), "body")


async def test_checksums_and_validation(bucket):
    good = hashlib.sha256(b"x").hexdigest()
    assert (await bucket.put("x", b"x", sha256=good)).size == 1
    with pytest.raises(R2Error, match="10037"):
        await bucket.put("y", b"x", md5="00" * 16)
    assert await bucket.head("y") is None
    with pytest.raises(R2Error, match="object name"):
        await bucket.put("k" * 1025, "v")
    with pytest.raises(R2Error, match="customMetadata"):
        await bucket.put("k", "v", customMetadata={"n": 1})
    with pytest.raises(R2Error, match="Unknown option"):
        await bucket.put("k", "v", colour="red")
    with pytest.raises(R2Error, match="httpMetadata"):
        await bucket.put("k", "v", httpMetadata={"contentColour": "red"})
    with pytest.raises(R2Error, match="str, bytes or a stream"):
        await bucket.put("k", 42)


async def test_write_http_metadata(bucket):
    obj = await bucket.put("h", "v", http_metadata={"content_type": "image/png",
                                                     "cacheControl": "max-age=60"})  # fmt: skip
    headers: dict[str, str] = {}
    obj.writeHttpMetadata(headers)
    assert headers == {"content-type": "image/png", "cache-control": "max-age=60"}
    from emulator.sdk.headers import Headers

    js_like = Headers()
    obj.writeHttpMetadata(js_like)
    assert js_like.get("Content-Type") == "image/png"


async def test_list(bucket):
    for key in ["photos/2024/a.jpg", "photos/2024/b.jpg", "photos/cat.jpg", "readme", "z"]:
        await bucket.put(key, "v", customMetadata={"k": key})
    everything = await bucket.list()
    assert [o.key for o in everything.objects] == [
        "photos/2024/a.jpg", "photos/2024/b.jpg", "photos/cat.jpg", "readme", "z",
    ]  # fmt: skip
    assert everything.truncated is False and "cursor" not in everything
    assert everything.objects[0].customMetadata == {}  # only with include=
    included = await bucket.list(prefix="readme", include=["customMetadata"])
    assert included.objects[0].customMetadata == {"k": "readme"}
    grouped = await bucket.list(prefix="photos/", delimiter="/")
    assert [o.key for o in grouped.objects] == ["photos/cat.jpg"]
    assert grouped.delimitedPrefixes == ["photos/2024/"]
    page = await bucket.list(limit=2)
    assert [o.key for o in page.objects] == ["photos/2024/a.jpg", "photos/2024/b.jpg"]
    assert page.truncated is True
    rest = await bucket.list(cursor=page.cursor, limit=2)
    assert [o.key for o in rest.objects] == ["photos/cat.jpg", "readme"]
    root = await bucket.list(delimiter="/", limit=1)
    assert root.delimitedPrefixes == ["photos/"] and root.truncated is True
    after = await bucket.list(delimiter="/", cursor=root.cursor)
    assert [o.key for o in after.objects] == ["readme", "z"]
    assert [o.key for o in (await bucket.list(startAfter="readme")).objects] == ["z"]
    with pytest.raises(R2Error, match="MaxKeys"):
        await bucket.list(limit=0)


async def test_persistence_and_layout(host, tmp_path, bucket):
    await bucket.put("keep", "me")
    await bucket.put("keep", "me again")  # the old blob is removed
    await host.close()
    folder = tmp_path / "state" / "v3" / "r2" / "my-files"
    assert (folder / "index.sqlite").is_file()
    assert len(list((folder / "blobs").iterdir())) == 1
    again = BindingHost(state_dir=tmp_path / "state")
    try:
        assert await (await r2.build(spec(bucket_name="my-files"), again).get("keep")).text() == (
            "me again"
        )
    finally:
        await again.close()


def test_registered():
    assert registry.KINDS["r2_buckets"] == "bindings.r2"
    assert registry.get("r2_buckets") is r2.KIND and r2.KIND.emulated
