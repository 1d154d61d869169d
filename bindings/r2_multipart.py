"""R2 multipart uploads: `createMultipartUpload`, `uploadPart`, `complete`, `abort`.

Follows https://developers.cloudflare.com/r2/api/workers/workers-multipart-usage/ and
R2's rules: part numbers 1-10000; every part but the last at least 5 MiB and all of the
same size; `complete` takes the `{partNumber, etag}` records `uploadPart` returned; the
object's etag is the MD5 of the parts' MD5s followed by `-<number of parts>`, as S3 and
R2 compute it. Parts wait in `<bucket>/blobs/parts/<uploadId>/` until completed/aborted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bindings.storage import transaction
from emulator.sdk.attrdict import AttrDict

if TYPE_CHECKING:
    from bindings.r2 import R2Bucket, R2Object

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    http_metadata TEXT NOT NULL,
    custom_metadata TEXT NOT NULL,
    storage_class TEXT NOT NULL
);
"""


class MultipartUpload:
    """An upload in progress (`R2MultipartUpload`): `key`, `uploadId` and its methods."""

    def __init__(self, bucket: R2Bucket, key: str, upload_id: str) -> None:
        self._bucket = bucket
        self.key = key
        self.uploadId = upload_id
        self.upload_id = upload_id

    @property
    def _parts(self):
        return self._bucket._blobs / "parts" / self.uploadId

    def _check(self, conn: Any, op: str) -> tuple:
        row = conn.execute(
            "SELECT key, http_metadata, custom_metadata, storage_class FROM uploads"
            " WHERE upload_id = ?",
            (self.uploadId,),
        ).fetchone()
        if row is None or row[0] != self.key:
            from bindings.r2 import R2Error

            raise R2Error(f"{op}: The specified multipart upload does not exist. (10024)")
        return row

    async def uploadPart(self, partNumber: int, value: Any) -> AttrDict:
        """Store one part; returns `{partNumber, etag}` for `complete()`."""
        from bindings.r2 import R2Error, _to_bytes

        if not isinstance(partNumber, int) or not 1 <= partNumber <= MAX_PARTS:
            raise R2Error(f"uploadPart: Part number must be between 1 and {MAX_PARTS}. (10039)")
        data = await _to_bytes(value)
        etag = hashlib.md5(data).hexdigest()

        def write(conn):
            self._check(conn, "uploadPart")
            self._parts.mkdir(parents=True, exist_ok=True)
            tmp = self._parts / f"{partNumber}.tmp"
            tmp.write_bytes(data)
            tmp.rename(self._parts / str(partNumber))

        await self._bucket._db.run(write)
        return AttrDict(partNumber=partNumber, etag=etag)

    upload_part = uploadPart

    async def abort(self) -> None:
        def remove(conn):
            conn.execute("DELETE FROM uploads WHERE upload_id = ?", (self.uploadId,))
            shutil.rmtree(self._parts, ignore_errors=True)

        await self._bucket._db.run(remove)

    async def complete(self, uploadedParts: list[Any]) -> R2Object:
        """Assemble the parts (in the order given) into the object and return it."""
        from bindings.r2 import _COLUMNS, R2Error, R2Object, _row

        parts = [AttrDict(p) if isinstance(p, dict) else p for p in uploadedParts]
        if not parts:
            raise R2Error("completeMultipartUpload: No parts were given. (10011)")

        def assemble(conn):
            _key, http, custom, storage_class = self._check(conn, "completeMultipartUpload")
            files, digests = [], []
            for part in parts:
                path = self._parts / str(part["partNumber"])
                if not path.is_file():
                    raise R2Error(
                        f"completeMultipartUpload: Part {part['partNumber']} was never "
                        "uploaded. (10025)"
                    )
                digest = hashlib.md5(path.read_bytes()).digest()
                if digest.hex() != str(part["etag"]).strip('"'):
                    raise R2Error(
                        f"completeMultipartUpload: Part {part['partNumber']} has another "
                        "etag than the one given. (10025)"
                    )
                files.append(path)
                digests.append(digest)
            sizes = [path.stat().st_size for path in files]
            if any(size < MIN_PART_SIZE for size in sizes[:-1]):
                raise R2Error(
                    "completeMultipartUpload: Your proposed upload is smaller than the "
                    "minimum allowed object size. (10011)"
                )
            if len(set(sizes[:-1])) > 1 or (len(sizes) > 1 and sizes[-1] > sizes[0]):
                raise R2Error(
                    "completeMultipartUpload: There was a problem with the multipart upload:"
                    " all parts but the last must have the same size. (10048)"
                )
            blob_id = uuid.uuid4().hex
            target = self._bucket._blobs / blob_id
            with open(target, "wb") as out:
                for path in files:
                    with open(path, "rb") as source:
                        shutil.copyfileobj(source, out)
            etag = hashlib.md5(b"".join(digests)).hexdigest() + f"-{len(files)}"
            row = (self.key, blob_id, uuid.uuid4().hex, sum(sizes), etag,
                   int(datetime.now(tz=UTC).timestamp() * 1000), http, custom,
                   storage_class)  # fmt: skip

            def commit(conn):
                old = _row(conn, self.key)
                conn.execute(
                    f"INSERT OR REPLACE INTO objects ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", row
                )
                conn.execute("DELETE FROM uploads WHERE upload_id = ?", (self.uploadId,))
                if old is not None:
                    (self._bucket._blobs / old[1]).unlink(missing_ok=True)

            transaction(conn, commit)
            shutil.rmtree(self._parts, ignore_errors=True)
            return row

        return R2Object(await self._bucket._db.run(assemble))


async def create(bucket: R2Bucket, key: str, opts: dict[str, Any]) -> MultipartUpload:
    """Register a new upload for `key` with the object's future metadata."""
    from bindings.r2 import _custom_metadata, _http_metadata

    http = json.dumps(_http_metadata(opts.get("httpMetadata")))
    custom = json.dumps(_custom_metadata(opts.get("customMetadata")))
    storage_class = opts.get("storageClass") or "Standard"
    upload_id = uuid.uuid4().hex
    await bucket._db.run(
        lambda conn: conn.execute(
            "INSERT INTO uploads VALUES (?, ?, ?, ?, ?)",
            (upload_id, key, http, custom, storage_class),
        )
    )
    return MultipartUpload(bucket, key, upload_id)
