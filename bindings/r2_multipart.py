"""R2 multipart uploads: `createMultipartUpload`, `uploadPart`, `complete`, `abort`.

Follows https://developers.cloudflare.com/r2/api/workers/workers-multipart-usage/, the
error codes of https://developers.cloudflare.com/r2/api/error-codes/ and the rules
Miniflare's R2 simulator applies (workers-sdk `miniflare/src/workers/r2/bucket.worker.ts`):

- An upload id is a random token looked up in the `multipart_uploads` table together with
  the key; it is never part of a path. An unknown id, or another key's, is `NoSuchUpload`
  (10024). `abort()` twice, or after `complete()`, does nothing.
- Part numbers are integers 1-10000; anything else is refused before it reaches storage.
  Uploading a part number again replaces that part.
- `complete(parts)` takes the `{partNumber, etag}` records `uploadPart` returned: a part
  never uploaded or an etag that differs is `InvalidPart` (10025); a part but the last
  under 5 MiB, in the order given, is `EntityTooSmall` (10011); in part-number order,
  parts but the last of different sizes, or a last part larger than the others, is
  `BadUpload` (10048); no parts or a part listed twice is R2's internal error (10001).
  The object is the parts in part-number order; its etag is the MD5 of their MD5s
  followed by `-<number of parts>`, as S3 and R2 compute it.

Parts are blobs of the bucket's `BlobFolder`, named in `multipart_parts`, so a crash at
any instant leaves the upload (or the completed object) whole, and no stray file.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from bindings.blobs import BlobFolder
from bindings.r2_objects import (
    R2Error,
    R2Object,
    custom_metadata,
    http_metadata,
    read_row,
    store_row,
    to_bytes,
)
from bindings.storage import SqliteFile, usv
from emulator.sdk.attrdict import AttrDict

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS multipart_uploads (
    upload_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    http_metadata TEXT NOT NULL,
    custom_metadata TEXT NOT NULL,
    storage_class TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'in-progress'  -- then 'completed' or 'aborted'
);
CREATE TABLE IF NOT EXISTS multipart_parts (
    upload_id TEXT NOT NULL REFERENCES multipart_uploads (upload_id),
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
-- the layout before these tables kept parts in folders named by the upload id
DROP TABLE IF EXISTS uploads;
"""

_NO_SUCH_UPLOAD = "The specified multipart upload does not exist. (10024)"
_INTERNAL = "We encountered an internal error. Please try again. (10001)"


class MultipartUpload:
    """An upload (`R2MultipartUpload`): `key`, `uploadId` and its methods. Resuming one
    checks nothing; each call looks the id up, as on R2."""

    def __init__(self, db: SqliteFile, blobs: BlobFolder, key: str, upload_id: str) -> None:

        if not isinstance(upload_id, str):
            raise R2Error(f"resumeMultipartUpload: uploadId must be a string, "
                          f"got {type(upload_id).__name__}")  # fmt: skip
        upload_id = usv(upload_id)
        self._db = db
        self._blobs = blobs
        self.key = key
        self.uploadId = upload_id
        self.upload_id = upload_id

    def _state(self, conn: Any, op: str) -> tuple:
        """`(state, http_metadata, custom_metadata, storage_class)`, or NoSuchUpload."""
        row = conn.execute(
            "SELECT state, http_metadata, custom_metadata, storage_class"
            " FROM multipart_uploads WHERE upload_id = ? AND key = ?",
            (self.uploadId, self.key),
        ).fetchone()
        if row is None:
            raise _error(op, _NO_SUCH_UPLOAD)
        return row

    def _in_progress(self, conn: Any, op: str) -> tuple:
        row = self._state(conn, op)
        if row[0] != "in-progress":
            raise _error(op, _NO_SUCH_UPLOAD, f"the upload was {row[0]}")
        return row

    async def uploadPart(self, partNumber: int, value: Any) -> AttrDict:
        """Store one part; returns `{partNumber, etag}` for `complete()`."""

        if (not isinstance(partNumber, int) or isinstance(partNumber, bool)
                or not 1 <= partNumber <= MAX_PARTS):  # fmt: skip
            raise _error("uploadPart", f"Part number must be an integer between 1 and "
                         f"{MAX_PARTS}, inclusive. (10029)", f"got {partNumber!r}")  # fmt: skip
        data = await to_bytes(value)
        etag = hashlib.md5(data).hexdigest()
        blobs = self._blobs

        def write(conn):
            self._in_progress(conn, "uploadPart")
            old = conn.execute(
                "SELECT blob FROM multipart_parts WHERE upload_id = ? AND part_number = ?",
                (self.uploadId, partNumber),
            ).fetchone()
            blob, size = blobs.write((data,))
            conn.execute("INSERT OR REPLACE INTO multipart_parts VALUES (?, ?, ?, ?, ?)",
                         (self.uploadId, partNumber, blob, size, etag))  # fmt: skip
            return None, () if old is None else (old[0],)

        await self._db.run(lambda conn: blobs.change(conn, write))
        return AttrDict(partNumber=partNumber, etag=etag)

    upload_part = uploadPart

    async def abort(self) -> None:
        """Drop the upload and its parts; nothing happens if it already ended."""

        def remove(conn):
            if self._state(conn, "abortMultipartUpload")[0] != "in-progress":
                return None, ()
            return None, self._end(conn, "aborted")

        blobs = self._blobs
        await self._db.run(lambda conn: blobs.change(conn, remove))

    async def complete(self, uploadedParts: list[Any]) -> R2Object:
        """Assemble the parts into the object (in part-number order) and return it."""

        op = "completeMultipartUpload"
        if not isinstance(uploadedParts, list | tuple):
            raise _error(op, "uploadedParts must be a list of {partNumber, etag} records, got "
                         f"{type(uploadedParts).__name__}")  # fmt: skip
        chosen = [_part_ref(part) for part in uploadedParts]
        blobs = self._blobs

        def assemble(conn):
            _state, http, custom, storage_class = self._in_progress(conn, op)
            if not chosen:
                raise _error(op, _INTERNAL, "complete() needs at least one part")
            stored = {number: (blob, size, etag) for number, blob, size, etag in conn.execute(
                "SELECT part_number, blob, size, etag FROM multipart_parts WHERE upload_id = ?",
                (self.uploadId,))}  # fmt: skip
            for number, etag in chosen:
                if (not isinstance(number, int) or isinstance(number, bool)
                        or number not in stored or stored[number][2] != etag):  # fmt: skip
                    raise _error(op, "One or more of the specified parts could not be found."
                                 " (10025)", f"part {number!r} with etag {etag!r}")  # fmt: skip
            numbers = [number for number, _etag in chosen]
            if len(set(numbers)) != len(numbers):
                raise _error(op, _INTERNAL, "a part number is listed twice")
            sizes = [stored[number][1] for number in numbers]
            if any(size < MIN_PART_SIZE for size in sizes[:-1]):
                raise _error(op, "Your proposed upload is smaller than the minimum allowed "
                             "object size. (10011)", f"parts but the last need {MIN_PART_SIZE}"
                             " bytes or more")  # fmt: skip
            numbers.sort()
            sizes = [stored[number][1] for number in numbers]
            if len(set(sizes[:-1])) > 1 or (len(sizes) > 1 and sizes[-1] > sizes[0]):
                raise _error(op, "There was a problem with the multipart upload. (10048)",
                             "parts but the last must have one size, the last no larger")
            blob, size = blobs.copy(stored[number][0] for number in numbers)
            digests = b"".join(bytes.fromhex(stored[number][2]) for number in numbers)
            etag = hashlib.md5(digests).hexdigest() + f"-{len(numbers)}"
            row = (self.key, blob, uuid.uuid4().hex, size, etag,
                   int(datetime.now(tz=UTC).timestamp() * 1000), http, custom,
                   storage_class)  # fmt: skip
            old = read_row(conn, self.key)
            store_row(conn, row)
            garbage = self._end(conn, "completed")
            return row, garbage if old is None else [*garbage, old[1]]

        return R2Object(await self._db.run(lambda conn: blobs.change(conn, assemble)))

    def _end(self, conn: Any, state: str) -> list[str]:
        """Mark the upload ended and forget its parts; returns their blobs."""
        blobs = [row[0] for row in conn.execute(
            "DELETE FROM multipart_parts WHERE upload_id = ? RETURNING blob", (self.uploadId,))]
        conn.execute("UPDATE multipart_uploads SET state = ? WHERE upload_id = ?",
                     (state, self.uploadId))  # fmt: skip
        return blobs


async def create(
    db: SqliteFile, blobs: BlobFolder, key: str, opts: dict[str, Any]
) -> MultipartUpload:
    """Register a new upload for `key` with the object's future metadata."""

    http = json.dumps(http_metadata(opts.get("httpMetadata")))
    custom = json.dumps(custom_metadata(opts.get("customMetadata")))
    storage_class = opts.get("storageClass") or "Standard"
    upload_id = uuid.uuid4().hex
    await db.run(
        lambda conn: conn.execute(
            "INSERT INTO multipart_uploads (upload_id, key, http_metadata, custom_metadata,"
            " storage_class) VALUES (?, ?, ?, ?, ?)",
            (upload_id, key, http, custom, storage_class),
        )
    )
    return MultipartUpload(db, blobs, key, upload_id)


def _part_ref(part: Any) -> tuple[Any, Any]:
    """`(partNumber, etag)` of one record given to `complete()`, whatever its shape."""
    get = part.get if hasattr(part, "get") else lambda name: getattr(part, name, None)
    etag = get("etag")
    return get("partNumber"), etag.strip('"') if isinstance(etag, str) else etag


def _error(op: str, message: str, detail: str | None = None) -> Exception:
    """R2's error (`<op>: <message> (<code>)`); `detail`, ours, goes in a note."""

    error = R2Error(f"{op}: {message}")
    if detail:
        error.add_note(f"edge: {detail}")
    return error
