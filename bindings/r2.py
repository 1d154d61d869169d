"""R2 (`[[r2_buckets]]`): a local bucket of files with an SQLite index.

Mirrors the Workers API (https://developers.cloudflare.com/r2/api/workers/workers-api-reference/)
as Python Workers call it: `await env.BUCKET.put(key, value, httpMetadata={...},
customMetadata={...})`, `get(key, range=..., onlyIf=...)` (an object with a body:
`await obj.text()`, `.json()`, `.arrayBuffer()`/`.bytes()`, `obj.body` streams),
`head`, `delete(key or keys)`, `list(prefix=, limit=, cursor=, delimiter=, startAfter=,
include=[...])`. Objects carry `key, version, size, etag, httpEtag, uploaded,
httpMetadata, customMetadata, checksums, storageClass`; snake_case names work too.
Storage: `<state>/v3/r2/<bucket>/blobs/<id>` plus `<state>/v3/r2/<bucket>/index.sqlite`;
`bindings.blobs` keeps the two consistent through a crash at any instant (an overwrite
leaves the old object or the new one, never neither). Multipart uploads live in
`bindings.r2_multipart`. Not emulated: SSE-C keys.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from bindings import r2_multipart
from bindings.blobs import BlobFolder
from bindings.contract import BindingHost, BindingKind, BindingSpec, Field
from bindings.r2_objects import (
    COLUMNS,
    SCHEMA,
    R2Error,
    R2Object,
    R2ObjectBody,
    camel,
    custom_metadata,
    http_metadata,
    read_row,
    store_row,
    to_bytes,
)
from bindings.storage import (
    SqliteFile,
    binding_path,
    decode_cursor,
    encode_cursor,
    shared_db,
    usv,
)
from emulator.sdk.attrdict import AttrDict

MAX_KEY_SIZE = 1024
MAX_LIST_KEYS = 1000
class R2Bucket:
    """`env.<BINDING>` for one bucket."""

    def __init__(self, db: SqliteFile, bucket_name: str, blobs: BlobFolder) -> None:
        self._db = db
        self.bucket_name = bucket_name
        self._blobs = blobs

    def describe(self) -> list[str]:
        return [f"bucket {self.bucket_name} at {self._db.path.parent}"]

    async def head(self, key: str) -> R2Object | None:
        key = _validate_key(key, "head")
        row = await self._db.run(lambda conn: read_row(conn, key))
        return None if row is None else R2Object(row)

    async def get(self, key: str, options: dict | None = None, **kwargs: Any) -> Any:
        """The object with its body, None when missing, or (a failed `onlyIf`) the object
        without a body."""
        opts = _options(options, kwargs, {"onlyIf", "range", "ssecKey"})
        key = _validate_key(key, "get")
        only_if = _only_if(opts.get("onlyIf"), "get")

        def read(conn):
            for _attempt in range(3):
                row = read_row(conn, key)
                if row is None:
                    return None, None, None
                if not _conditions_met(row, only_if):
                    return row, None, None
                span = _range(opts.get("range"), row[3])
                try:
                    # Opened on the index thread, so an overwrite here cannot swap it; the
                    # open file survives the old blob's unlink by a later overwrite.
                    return row, self._blobs.open(row[1]), span  # closed by the body
                except FileNotFoundError:
                    continue  # another process replaced the object just now: read again
            error = R2Error("get: We encountered an internal error. Please try again. (10001)")
            error.add_note(f"edge: the blob {row[1]} of {key!r} is missing from {self._blobs}")
            raise error

        row, handle, span = await self._db.run(read)
        if row is None:
            return None
        if handle is None:
            return R2Object(row)
        offset, length = span
        return R2ObjectBody(row, handle, offset, length)

    async def put(self, key: str, value: Any, options: dict | None = None, **kwargs: Any) -> Any:
        """Store `value` (str, bytes-like, None or an async iterable of bytes); the new
        `R2Object`, or None when `onlyIf` is not met."""
        allowed = {"httpMetadata", "customMetadata", "md5", "sha1", "sha256", "sha384",
                   "sha512", "onlyIf", "storageClass", "ssecKey"}  # fmt: skip
        opts = _options(options, kwargs, allowed)
        key = _validate_key(key, "put")
        only_if = _only_if(opts.get("onlyIf"), "put")
        http = http_metadata(opts.get("httpMetadata"))
        custom = custom_metadata(opts.get("customMetadata"))
        storage_class = opts.get("storageClass") or "Standard"
        if storage_class not in ("Standard", "InfrequentAccess"):
            raise R2Error(f"put: Unsupported storage class {storage_class!r}. (10040)")
        data = await to_bytes(value)
        digests = {"md5": hashlib.md5(data).hexdigest()}
        for algorithm in ("md5", "sha1", "sha256", "sha384", "sha512"):
            expected = opts.get(algorithm)
            if expected is None:
                continue
            if isinstance(expected, bytes | bytearray | memoryview):
                expected_hex = bytes(expected).hex()
            elif isinstance(expected, str):
                expected_hex = expected
            else:
                raise R2Error(f"put: The {algorithm.upper()} checksum you specified is not valid:"
                              f" expected hex text or bytes. (10014)")  # fmt: skip
            if hashlib.new(algorithm, data).hexdigest() != expected_hex.lower():
                raise R2Error(
                    f"put: The {algorithm.upper()} checksum you specified did not match "
                    "what we received. (10037)"
                )
        uploaded = int(datetime.now(tz=UTC).timestamp() * 1000)
        metadata = (json.dumps(http), json.dumps(custom), storage_class)

        def write(conn):
            old = read_row(conn, key)
            if only_if is not None and (old is None or not _conditions_met(old, only_if)):
                return None, ()
            blob, size = self._blobs.write((data,))
            row = (key, blob, uuid.uuid4().hex, size, digests["md5"], uploaded, *metadata)
            store_row(conn, row)
            return row, () if old is None else (old[1],)

        written = await self._db.run(lambda conn: self._blobs.change(conn, write))
        return None if written is None else R2Object(written)

    async def createMultipartUpload(
        self, key: str, options: dict | None = None, **kwargs: Any
    ) -> Any:
        """Start a multipart upload (see `bindings.r2_multipart`)."""
        opts = _options(options, kwargs, {"httpMetadata", "customMetadata", "storageClass",
                                          "ssecKey"})  # fmt: skip
        key = _validate_key(key, "createMultipartUpload")
        return await r2_multipart.create(self._db, self._blobs, key, opts)

    def resumeMultipartUpload(self, key: str, uploadId: str) -> Any:
        """The upload `uploadId` of `key` (checked when used, as on R2)."""
        return r2_multipart.MultipartUpload(self._db, self._blobs, key, uploadId)

    create_multipart_upload = createMultipartUpload
    resume_multipart_upload = resumeMultipartUpload

    async def delete(self, keys: str | list[str]) -> None:
        """Delete one key or a list of keys (missing keys are not an error)."""
        if not isinstance(keys, str | list | tuple):
            raise R2Error(f"delete: expected a key or a list of keys, got {type(keys).__name__}")
        key_list = [keys] if isinstance(keys, str) else list(keys)
        if len(key_list) > 1000:
            raise R2Error("delete: You can delete at most 1000 keys at once. (10001)")
        key_list = [_validate_key(key, "delete") for key in key_list]

        def remove(conn):
            garbage = []
            for key in key_list:
                old = read_row(conn, key)
                if old is not None:
                    conn.execute("DELETE FROM objects WHERE key = ?", (key,))
                    garbage.append(old[1])
            return None, garbage

        await self._db.run(lambda conn: self._blobs.change(conn, remove))

    async def list(self, options: dict | None = None, **kwargs: Any) -> AttrDict:
        """`{objects, truncated, cursor?, delimitedPrefixes}` in key order."""
        allowed = {"limit", "prefix", "cursor", "delimiter", "startAfter", "include"}
        opts = _options(options, kwargs, allowed)
        limit = opts.get("limit", MAX_LIST_KEYS)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise R2Error(
                f"list: MaxKeys params must be positive integer <= 1000. (10022), got {limit!r}"
            )
        prefix, delimiter, start_after = (_text(opts, name) for name in
                                          ("prefix", "delimiter", "startAfter"))  # fmt: skip
        include = opts.get("include") or ()
        if not isinstance(include, list | tuple) or not all(
            name in ("httpMetadata", "customMetadata") for name in include
        ):
            raise R2Error(f"list: include accepts httpMetadata and customMetadata, "
                          f"got {include!r}")  # fmt: skip
        include = set(include)
        after = max(start_after, _cursor_key(opts.get("cursor")))

        def scan(conn):
            objects, prefixes, position, truncated = [], [], after, False
            while True:
                rows = conn.execute(
                    f"SELECT {COLUMNS} FROM objects WHERE key > ? AND substr(key, 1, ?) = ?"
                    " ORDER BY key LIMIT 1000",
                    (position, len(prefix), prefix),
                ).fetchall()
                for row in rows:
                    key = row[0]
                    if key <= position:
                        continue  # inside a delimited prefix already listed
                    if len(objects) + len(prefixes) == limit:
                        return objects, prefixes, position, True
                    cut = key.find(delimiter, len(prefix)) if delimiter else -1
                    if cut >= 0:
                        group = key[: cut + len(delimiter)]
                        prefixes.append(group)
                        position = group + "\U0010ffff"  # past every key in the group
                    else:
                        objects.append(row)
                        position = key
                if len(rows) < 1000:
                    return objects, prefixes, position, truncated

        rows, prefixes, position, truncated = await self._db.run(scan)
        objects = []
        for row in rows:
            obj = R2Object(row)
            if "httpMetadata" not in include:
                obj.httpMetadata = AttrDict()
            if "customMetadata" not in include:
                obj.customMetadata = AttrDict()
            objects.append(obj)
        result: dict[str, Any] = {"objects": objects, "truncated": truncated,
                                  "delimitedPrefixes": prefixes}  # fmt: skip
        if truncated:
            result["cursor"] = encode_cursor(position)
        return AttrDict(result)


def build(spec: BindingSpec, host: BindingHost) -> R2Bucket:
    """`env.<binding>`: the bucket `bucket_name` (or the binding name when there is none)."""
    bucket = spec.options.get("bucket_name") or spec.name
    folder = binding_path(host, spec, "v3", "r2", bucket)
    blobs = BlobFolder(folder / "blobs")
    db = shared_db(host, f"r2:{folder}", folder / "index.sqlite", SCHEMA + r2_multipart.SCHEMA,
                   setup=lambda conn: blobs.collect(conn, _REFERENCED), durable=True)  # fmt: skip
    return R2Bucket(db, bucket, blobs)


#: R2's bucket naming rule, as Wrangler checks it (`isValidR2BucketName`).
_BUCKET_NAME = Field(
    pattern=r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]",
    expected="a bucket name of 3-63 lower-case letters, digits and '-', "
    "starting and ending with a letter or digit",
)

KIND = BindingKind(
    "r2_buckets",
    "R2 Bucket",
    fields={
        "bucket_name": _BUCKET_NAME,
        "preview_bucket_name": _BUCKET_NAME,
        "jurisdiction": Field(),
    },
    value_keys=("bucket_name",),
    build=build,
    describe=R2Bucket.describe,
)


# ---- helpers ---------------------------------------------------------------------------


#: Every blob name the index holds: objects, and parts of uploads not completed yet.
_REFERENCED = "SELECT blob FROM objects UNION ALL SELECT blob FROM multipart_parts"


def _validate_key(key: Any, op: str) -> str:
    """The key as R2 stores it (see `usv`), or R2's InvalidObjectName."""
    if not isinstance(key, str):
        raise R2Error(f"{op}: The specified object name is not valid: expected a string. (10020)")
    key = usv(key)
    if len(key.encode()) > MAX_KEY_SIZE:
        raise R2Error(f"{op}: The specified object name is not valid: over 1024 bytes. (10020)")
    return key


def _text(opts: dict[str, Any], name: str) -> str:
    """A list option that must be text ("" when absent)."""
    value = opts.get(name) or ""
    if not isinstance(value, str):
        raise R2Error(f"list: {name} must be a string, got {type(value).__name__}")
    return usv(value)


def _options(options: dict | None, kwargs: dict, allowed: set[str]) -> dict[str, Any]:
    merged = {camel(k): v for k, v in {**(options or {}), **kwargs}.items()}
    unknown = set(merged) - allowed
    if unknown:
        names, expected = ", ".join(sorted(unknown)), ", ".join(sorted(allowed))
        raise R2Error(f"Unknown option(s): {names}; expected {expected}")
    return merged


_CONDITIONS = {"etagMatches": str, "etagDoesNotMatch": str, "uploadedBefore": datetime,
               "uploadedAfter": datetime}  # fmt: skip


def _only_if(only_if: Any, op: str) -> dict[str, Any] | None:
    """`onlyIf` (a dict, or Headers with If-Match / If-None-Match) checked and normalised."""
    if only_if is None:
        return None
    if hasattr(only_if, "get") and not isinstance(only_if, dict):  # Headers: If-Match etc.
        only_if = {"etagMatches": only_if.get("if-match"),
                   "etagDoesNotMatch": only_if.get("if-none-match")}  # fmt: skip
    if not isinstance(only_if, dict):
        raise R2Error(f"{op}: onlyIf must be a dict or Headers, got {type(only_if).__name__}")
    cond = {camel(k) if isinstance(k, str) else k: v for k, v in only_if.items()
            if v is not None}  # fmt: skip
    for name, value in cond.items():
        kind = _CONDITIONS.get(name)
        if kind is None:
            raise R2Error(f"{op}: unknown onlyIf condition {name!r}; known: {list(_CONDITIONS)}")
        if not isinstance(value, kind):
            raise R2Error(f"{op}: onlyIf.{name} must be a {kind.__name__}, "
                          f"got {type(value).__name__}")  # fmt: skip
    return cond


def _conditions_met(row: tuple, cond: dict[str, Any] | None) -> bool:
    if not cond:
        return True
    etag, uploaded = row[4], row[5]
    match = cond.get("etagMatches")
    if match is not None and match.strip('"') not in (etag, "*"):
        return False
    no_match = cond.get("etagDoesNotMatch")
    if no_match is not None and no_match.strip('"') in (etag, "*"):
        return False
    before, after = cond.get("uploadedBefore"), cond.get("uploadedAfter")
    if before is not None and uploaded >= before.timestamp() * 1000:
        return False
    return not (after is not None and uploaded <= after.timestamp() * 1000)


def _range(value: Any, size: int) -> tuple[int, int]:
    if not value:
        return 0, size
    if not isinstance(value, dict):
        raise R2Error(f"get: range must be a dict, got {type(value).__name__}")
    rng = {camel(k) if isinstance(k, str) else k: v for k, v in value.items()}
    if any(name not in ("offset", "length", "suffix") for name in rng) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in rng.values()
    ):
        raise R2Error(f"get: range must be {{offset, length}} or {{suffix}} of non-negative "
                      f"integers, got {value!r}")  # fmt: skip
    if "suffix" in rng:
        suffix = min(rng["suffix"], size)
        return size - suffix, suffix
    offset = rng.get("offset", 0)
    if offset > size:
        raise R2Error(f"get: The requested range is not satisfiable: offset {offset}. (10039)")
    length = rng.get("length", size - offset)
    return offset, min(length, size - offset)


def _cursor_key(cursor: Any) -> str:
    key = decode_cursor(cursor)
    if key is None:
        raise R2Error(f"list: Invalid cursor {cursor!r}")
    return key
