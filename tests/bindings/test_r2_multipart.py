"""R2 multipart uploads: ids are looked up, never paths; part numbers are 1-10000; R2's
rules and error wording for complete/abort; parts assembled in part-number order."""

from __future__ import annotations

import hashlib

import pytest

from bindings import r2
from bindings.r2 import R2Error
from bindings.r2_multipart import MIN_PART_SIZE
from emulator.config import BindingSpec


@pytest.fixture
def bucket(host):
    return r2.build(BindingSpec("r2_buckets", "FILES", {"bucket_name": "files"}), host)


def victim(tmp_path):
    """A folder and a file outside the state folder that a hostile id must not reach."""
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    return folder


@pytest.mark.parametrize("upload_id", ["../../../victim", "{victim}", "..", ".", ""])
async def test_abort_with_a_path_as_upload_id_touches_nothing(tmp_path, bucket, upload_id):
    folder = victim(tmp_path)
    await bucket.put("k", "v")  # the bucket's folders exist
    upload_id = upload_id.format(victim=folder)
    with pytest.raises(R2Error) as caught:
        await bucket.resumeMultipartUpload("k", upload_id).abort()
    assert str(caught.value) == (
        "abortMultipartUpload: The specified multipart upload does not exist. (10024)"
    )
    assert (folder / "precious.txt").read_text() == "keep me"
    assert await (await bucket.get("k")).text() == "v"


@pytest.mark.parametrize(
    "part_number", ["{victim}/precious.txt", "../" * 7 + "victim/precious.txt", "1", 1.0, None]
)
async def test_complete_with_a_path_as_part_number_reads_nothing(tmp_path, bucket, part_number):
    folder = victim(tmp_path)
    if isinstance(part_number, str):
        part_number = part_number.format(victim=folder)
    upload = await bucket.createMultipartUpload("k")
    part = await upload.uploadPart(1, b"x")
    etag = hashlib.md5(b"keep me").hexdigest()
    with pytest.raises(R2Error, match=r"(?m)^completeMultipartUpload: .*\(10025\)$"):
        await upload.complete([part, {"partNumber": part_number, "etag": etag}])
    assert await bucket.head("k") is None
    assert (folder / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("part_number", [0, -1, 10_001, 2**63, "1", "../x", 1.5, True, None])
async def test_upload_part_needs_an_integer_1_to_10000(bucket, part_number):
    upload = await bucket.createMultipartUpload("k")
    with pytest.raises(R2Error) as caught:
        await upload.uploadPart(part_number, b"x")
    assert str(caught.value).startswith("uploadPart: Part number must be an integer between 1 "
                                        "and 10000, inclusive.")  # fmt: skip
    assert (await upload.uploadPart(10_000, b"x")).partNumber == 10_000


async def test_unknown_or_mismatched_upload_id(bucket):
    upload = await bucket.createMultipartUpload("k")
    for op, call in [
        ("uploadPart", lambda u: u.uploadPart(1, b"x")),
        ("completeMultipartUpload", lambda u: u.complete([{"partNumber": 1, "etag": "0"}])),
        ("abortMultipartUpload", lambda u: u.abort()),
    ]:
        for resumed in (bucket.resumeMultipartUpload("k", "no-such-id"),
                        bucket.resumeMultipartUpload("other-key", upload.uploadId)):  # fmt: skip
            with pytest.raises(R2Error) as caught:
                await call(resumed)
            assert str(caught.value) == (
                f"{op}: The specified multipart upload does not exist. (10024)"
            )
    with pytest.raises(R2Error, match="uploadId must be a string"):
        bucket.resumeMultipartUpload("k", 42)


async def test_complete_errors_follow_r2(bucket):
    upload = await bucket.createMultipartUpload("k")
    big = await upload.uploadPart(1, b"a" * MIN_PART_SIZE)
    small = await upload.uploadPart(2, b"b" * 10)
    bigger = await upload.uploadPart(3, b"c" * (MIN_PART_SIZE + 1))

    async def complete(parts):
        with pytest.raises(R2Error) as caught:
            await upload.complete(parts)
        return str(caught.value)

    assert await complete([]) == (
        "completeMultipartUpload: We encountered an internal error. Please try again. (10001)"
    )
    invalid = "completeMultipartUpload: One or more of the specified parts could not be found."
    assert await complete([{"partNumber": 9, "etag": big.etag}]) == f"{invalid} (10025)"
    assert await complete([{"partNumber": 1, "etag": small.etag}]) == f"{invalid} (10025)"
    assert await complete([{"partNumber": 1}]) == f"{invalid} (10025)"
    assert await complete([small, big]) == (
        "completeMultipartUpload: Your proposed upload is smaller than the minimum allowed "
        "object size. (10011)"
    )
    assert await complete([big, bigger]) == (
        "completeMultipartUpload: There was a problem with the multipart upload. (10048)"
    )
    assert await complete([big, big]) == (
        "completeMultipartUpload: We encountered an internal error. Please try again. (10001)"
    )
    assert await bucket.head("k") is None  # every failure left the upload as it was
    assert (await upload.complete([big, small])).size == MIN_PART_SIZE + 10


async def test_parts_are_assembled_in_part_number_order(bucket):
    upload = await bucket.createMultipartUpload("k", httpMetadata={"contentType": "x/y"})
    first = await upload.uploadPart(1, b"a" * MIN_PART_SIZE)
    await upload.uploadPart(2, b"stale")
    second = await upload.uploadPart(2, b"b" * MIN_PART_SIZE)  # uploading again replaces it
    third = await upload.uploadPart(3, b"c" * 7)
    obj = await upload.complete([second, first, third])  # listed out of order
    md5s = [hashlib.md5(c * n).digest() for c, n in ((b"a", MIN_PART_SIZE),
                                                      (b"b", MIN_PART_SIZE), (b"c", 7))]
    assert obj.etag == hashlib.md5(b"".join(md5s)).hexdigest() + "-3"
    got = await bucket.get("k")
    assert await got.arrayBuffer() == b"a" * MIN_PART_SIZE + b"b" * MIN_PART_SIZE + b"c" * 7
    assert got.httpMetadata.contentType == "x/y" and got.size == 2 * MIN_PART_SIZE + 7


async def test_abort_and_complete_lifecycle(bucket):
    upload = await bucket.createMultipartUpload("k")
    part = await upload.uploadPart(1, b"only part")
    obj = await upload.complete([part])
    assert obj.size == 9
    await upload.abort()  # aborting a completed upload does nothing, as on R2
    assert await (await bucket.get("k")).text() == "only part"
    with pytest.raises(R2Error, match=r"(?m)^uploadPart: .* does not exist. \(10024\)$"):
        await upload.uploadPart(2, b"late")
    with pytest.raises(R2Error, match=r"(?m)^completeMultipartUpload: .*\(10024\)$"):
        await upload.complete([part])

    aborted = await bucket.createMultipartUpload("gone")
    await aborted.uploadPart(1, b"x")
    await aborted.abort()
    await aborted.abort()  # twice is fine
    with pytest.raises(R2Error, match=r"(?m)^uploadPart: .*\(10024\)$"):
        await aborted.uploadPart(1, b"x")
    assert await bucket.head("gone") is None


async def test_parts_leave_no_files_behind(bucket):
    blobs = bucket._blobs.folder
    upload = await bucket.createMultipartUpload("k")
    parts = [await upload.uploadPart(n, b"p" * MIN_PART_SIZE) for n in (1, 2)]
    await upload.uploadPart(3, b"unused")
    await upload.complete(parts)
    assert len(list(blobs.iterdir())) == 1  # the object's blob; parts and the unused one gone
    other = await bucket.createMultipartUpload("other")
    await other.uploadPart(1, b"x")
    await other.abort()
    assert len(list(blobs.iterdir())) == 1
