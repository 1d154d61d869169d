"""A bounded fuzz of what a worker (or a client, through it) hands the storage bindings as
keys, names, ids, part numbers, cursors and bound values: every call either works or
fails with the binding's own clear error; nothing escapes the state folder."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bindings.contract import BindingSpec
from bindings.d1 import D1Error
from bindings.kv import KvError
from bindings.r2 import R2Error
from bindings.registry import BindingHost, build_binding
from bindings.storage import StatePathError

#: what a worker might pass where a string is expected: text of every kind (paths,
#: separators, NUL, lone surrogates, long names), and values of the wrong type.
ANYTHING = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="./\\\x00%~:*", max_size=12),
    st.sampled_from(["..", ".", "/", "/etc/passwd", "../" * 8 + "etc", "a" * 1100, "\ud800",
                     "C:\\Windows", "~", "-1", "1e3", "10001", ""]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.binary(max_size=8),
    st.lists(st.text(max_size=4), max_size=3),
    st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
)
FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])  # fmt: skip
OWN_ERRORS = (KvError, R2Error, D1Error, StatePathError)


class Env:
    """KV, D1 and R2 on one state folder, driven from synchronous Hypothesis tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runner = asyncio.Runner()
        self.host = BindingHost(state_dir=root / "state")
        self.kv = self.build("kv_namespaces", {"id": "ns"})
        self.db = self.build("d1_databases", {"database_id": "db"})
        self.bucket = self.build("r2_buckets", {"bucket_name": "files"})
        self.upload = self.run(self.bucket.createMultipartUpload("uploads/k"))

    def build(self, kind: str, options: dict) -> object:
        return build_binding(BindingSpec(kind, "B", {"binding": "B", **options}), self.host)

    def run(self, awaitable):
        return self.runner.run(awaitable)

    def attempt(self, make) -> None:
        """Call `make()` (sync, or returning an awaitable): it may work, or raise one of
        the bindings' own errors; anything else is an internal error."""
        try:
            result = make()
            if asyncio.iscoroutine(result):
                self.run(result)
        except OWN_ERRORS as exc:
            assert str(exc), f"{type(exc).__name__} without a message"

    def close(self) -> None:
        self.run(self.host.close())
        self.runner.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    env = Env(tmp_path_factory.mktemp("fuzz"))
    yield env
    env.close()
    outside = sorted(p.name for p in env.root.iterdir())
    assert outside == ["state"], f"files appeared outside the state folder: {outside}"
    root = os.path.realpath(env.root / "state")
    for folder, dirs, files in os.walk(env.root / "state"):
        for name in dirs + files:
            assert os.path.realpath(os.path.join(folder, name)).startswith(root + os.sep)


@FUZZ
@given(key=ANYTHING, other=ANYTHING)
def test_kv_keys_cursors_and_options(env, key, other):
    kv = env.kv
    env.attempt(lambda: kv.put(key, "v"))
    env.attempt(lambda: kv.get(key))
    env.attempt(lambda: kv.get(key, other))
    env.attempt(lambda: kv.getWithMetadata(key))
    env.attempt(lambda: kv.put("k", "v", metadata=other))
    env.attempt(lambda: kv.put("k", "v", expirationTtl=other))
    env.attempt(lambda: kv.list(prefix=key, cursor=other))
    env.attempt(lambda: kv.list(limit=other))
    env.attempt(lambda: kv.delete(key))


@FUZZ
@given(key=ANYTHING, other=ANYTHING)
def test_r2_keys_and_options(env, key, other):
    bucket = env.bucket
    env.attempt(lambda: bucket.put(key, b"v"))
    env.attempt(lambda: bucket.put("k", key))
    env.attempt(lambda: bucket.put("k", b"v", customMetadata=other))
    env.attempt(lambda: bucket.put("k", b"v", httpMetadata=other))
    env.attempt(lambda: bucket.head(key))
    env.attempt(lambda: bucket.get(key))
    env.attempt(lambda: bucket.get("k", range=other))
    env.attempt(lambda: bucket.get("k", onlyIf=other))
    env.attempt(lambda: bucket.list(prefix=key, delimiter=other))
    env.attempt(lambda: bucket.list(cursor=key, startAfter=other))
    env.attempt(lambda: bucket.list(limit=key, include=other))
    env.attempt(lambda: bucket.delete(key))
    env.attempt(lambda: bucket.createMultipartUpload(key))


@FUZZ
@given(upload_id=ANYTHING, part_number=ANYTHING, etag=ANYTHING)
def test_r2_multipart_ids_and_part_numbers(env, upload_id, part_number, etag):
    bucket = env.bucket
    env.attempt(lambda: bucket.resumeMultipartUpload("uploads/k", upload_id).abort())
    env.attempt(lambda: bucket.resumeMultipartUpload("uploads/k", upload_id).uploadPart(1, b"x"))
    env.attempt(lambda: env.upload.uploadPart(part_number, b"x"))
    env.attempt(lambda: env.upload.complete([{"partNumber": part_number, "etag": etag}]))
    env.attempt(lambda: env.upload.complete(part_number))


@FUZZ
@given(value=ANYTHING, name=ANYTHING)
def test_d1_values_and_names(env, value, name):
    db = env.db
    env.attempt(lambda: db.prepare("SELECT ? AS v").bind(value).all())
    env.attempt(lambda: db.prepare("SELECT 1 AS one").first(name))
    env.attempt(lambda: db.prepare(name))
    env.attempt(lambda: db.exec(name))
    env.attempt(lambda: db.batch(name))


@FUZZ
@given(name=ANYTHING)
def test_binding_names_and_ids(env, name):
    for kind, key in (("kv_namespaces", "id"), ("d1_databases", "database_id"),
                      ("r2_buckets", "bucket_name")):  # fmt: skip
        env.attempt(lambda kind=kind, key=key: env.build(kind, {key: name}))
