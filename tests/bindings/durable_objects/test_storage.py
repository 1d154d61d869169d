"""`ctx.storage`'s KV API, transactions, alarms and write coalescing, on one object file."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from bindings.durable_objects.storage import ObjectStorage


@pytest.fixture
def storage(tmp_path):
    store = ObjectStorage(tmp_path / "obj.sqlite")
    yield store
    store.close()


def committed(store: ObjectStorage) -> dict[bytes, bytes]:
    """What another connection sees: only committed rows."""
    db = sqlite3.connect(store.path)
    try:
        return dict(db.execute("SELECT key, value FROM _cf_KV").fetchall())
    finally:
        db.close()


async def test_get_put_delete_values_of_any_clonable_type(storage):
    assert await storage.get("missing") is None
    await storage.put("n", 5)
    await storage.put("doc", {"a": [1, {"b": 2}], "t": (1, 2)})
    assert await storage.get("n") == 5
    doc = await storage.get("doc")
    assert doc == {"a": [1, {"b": 2}], "t": [1, 2]} and doc.a[1].b == 2  # attribute access
    doc["a"].append(3)
    assert (await storage.get("doc"))["a"] == [1, {"b": 2}]  # a fresh copy each read
    assert await storage.delete("n") is True and await storage.delete("n") is False
    assert await storage.get("n") is None


async def test_many_keys_at_once(storage):
    await storage.put({"b": 2, "a": 1, "c": 3})
    found = await storage.get(["c", "zz", "a"])
    assert list(found.items()) == [("a", 1), ("c", 3)] and found.size == 2
    assert await storage.delete(["a", "b", "nope"]) == 2


async def test_list_options_follow_workerd(storage):
    await storage.put({k: i for i, k in enumerate(["a", "ab", "abc", "b", "ba", "é", "c"])})
    keys = lambda result: list(result)  # noqa: E731
    assert keys(await storage.list()) == ["a", "ab", "abc", "b", "ba", "c", "é"]  # UTF-8 order
    assert keys(await storage.list(prefix="a")) == ["a", "ab", "abc"]
    assert keys(await storage.list(start="ab", end="b")) == ["ab", "abc"]
    assert keys(await storage.list(startAfter="ab", limit=2)) == ["abc", "b"]
    assert keys(await storage.list(reverse=True, limit=2)) == ["é", "c"]
    assert keys(await storage.list(prefix="b", reverse=True)) == ["ba", "b"]
    assert keys(await storage.list(prefix="a", start="b")) == []
    assert keys(await storage.list({"prefix": "ab", "end": "abc"})) == ["ab"]
    assert (await storage.list(prefix="a")).size == 3


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.list(start="a", startAfter="b"), TypeError,
         "list() cannot be called with both start and startAfter values."),
        (lambda s: s.list(limit=0), TypeError, "List limit must be positive."),
        (lambda s: s.get("k" * 2049), ValueError, "Keys cannot be larger than 2048 bytes."),
        (lambda s: s.get(["k" * 2049]), ValueError, 'is larger than the limit of 2048 bytes.'),
        (lambda s: s.get([str(i) for i in range(129)]), ValueError,
         "Maximum number of keys is 128."),
        (lambda s: s.put("k", None), TypeError, "put() called with undefined value."),
        (lambda s: s.put("k", b"x" * (2 * 1024 * 1024)), ValueError,
         "string or blob too big: SQLITE_TOOBIG"),
        (lambda s: s.get(1), TypeError, "keys are strings"),
        (lambda s: s.get("k", bogus=True), TypeError, "Unknown option(s): bogus"),
    ],
)  # fmt: skip
def test_bad_calls_fail_with_cloudflares_wording(storage, call, error, message):
    with pytest.raises(error) as info:
        call(storage)
    assert message in str(info.value)


async def test_kv_backed_objects_have_the_128_kib_value_limit_and_no_sql(tmp_path):
    store = ObjectStorage(tmp_path / "kv.sqlite", sql_enabled=False)
    try:
        await store.put("ok", "x" * 1000)
        with pytest.raises(ValueError, match=r"^Values cannot be larger than 131072 bytes\.$"):
            store.put("big", "x" * 140_000)
        with pytest.raises(ValueError, match='Value for key "big" is above the limit'):
            store.put({"big": "x" * 140_000})
        with pytest.raises(RuntimeError, match="SQL is not enabled for this Durable Object"):
            store.sql.exec("SELECT 1")
        with pytest.raises(RuntimeError, match=r"Durable Object is not backed by SQL\."):
            store.transactionSync(lambda: None)
    finally:
        store.close()


async def test_writes_without_an_await_between_are_committed_together(storage):
    storage.put("a", 1)  # not awaited: stored anyway, as a JS promise would be
    storage.put("b", 2)
    assert committed(storage) == {}  # still in the implicit transaction
    await asyncio.sleep(0)  # the event yields to the loop: the batch commits
    assert set(committed(storage)) == {b"a", b"b"}


async def test_flush_is_the_output_gate(storage):
    await storage.put("a", 1)
    storage.flush()
    assert set(committed(storage)) == {b"a"}


async def test_transaction_commits_or_rolls_back(storage):
    await storage.put("n", 1)

    async def failing(txn):
        await txn.put("n", 2)
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="no"):
        await storage.transaction(failing)
    assert await storage.get("n") == 1

    async def rolled_back(txn):
        await txn.put("n", 3)
        txn.rollback()
        with pytest.raises(RuntimeError, match="already completed or been rolled back"):
            txn.put("n", 4)
        return "kept going"

    assert await storage.transaction(rolled_back) == "kept going"
    assert await storage.get("n") == 1

    async def good(txn):
        value = await txn.get("n")
        await txn.put("n", value + 10)
        with pytest.raises(RuntimeError, match=r"Cannot call deleteAll\(\) within a transaction"):
            txn.deleteAll()
        return value

    assert await storage.transaction(good) == 1 and await storage.get("n") == 11


async def test_transaction_sync_uses_savepoints(storage):
    storage.sql.exec("CREATE TABLE t (v)")

    def fails():
        storage.sql.exec("INSERT INTO t VALUES (1)")
        raise ValueError("undo")

    with pytest.raises(ValueError, match="undo"):
        storage.transactionSync(fails)
    count = lambda: storage.sql.exec("SELECT count(*) c FROM t").one().c  # noqa: E731
    assert storage.transactionSync(count) == 0

    async def not_sync():
        return 1

    with pytest.raises(TypeError, match="returned an awaitable"):
        storage.transactionSync(not_sync)


async def test_delete_all_drops_keys_and_tables(storage):
    await storage.put("k", 1)
    storage.sql.exec("CREATE TABLE t (v); INSERT INTO t VALUES (1)")
    await storage.setAlarm(time.time() * 1000 + 60_000)
    await storage.deleteAll()
    assert await storage.list() == {}
    tables = storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 't'")
    assert tables.toArray() == []
    assert await storage.getAlarm() is not None  # before compatibility date 2026-02-24


async def test_delete_all_deletes_the_alarm_when_the_flag_says(tmp_path):
    changes = []
    store = ObjectStorage(tmp_path / "a.sqlite", delete_all_deletes_alarm=True,
                          on_alarm=changes.append)  # fmt: skip
    try:
        await store.setAlarm(time.time() * 1000 + 60_000)
        await store.deleteAll()
        assert await store.getAlarm() is None and changes[-1] is None
    finally:
        store.close()


async def test_alarm_get_set_delete(tmp_path):
    changes = []
    store = ObjectStorage(tmp_path / "a.sqlite", on_alarm=changes.append)
    try:
        assert await store.getAlarm() is None
        later = int(time.time() * 1000) + 60_000
        await store.setAlarm(later)
        assert await store.getAlarm() == later and changes == [later]
        await store.setAlarm(1)  # in the past: as soon as possible
        assert abs(await store.getAlarm() - time.time() * 1000) < 5_000
        await store.deleteAlarm()
        assert await store.getAlarm() is None and changes[-1] is None
        message = r"^setAlarm\(\) cannot be called with an alarm time <= 0$"
        with pytest.raises(TypeError, match=message):
            store.setAlarm(0)
    finally:
        store.close()


def test_set_alarm_needs_an_alarm_handler(tmp_path):
    store = ObjectStorage(tmp_path / "a.sqlite", can_set_alarm=lambda: False)
    try:
        with pytest.raises(TypeError, match="must have an alarm\\(\\) handler in order to call"):
            store.setAlarm(time.time() * 1000)
    finally:
        store.close()


async def test_synchronous_kv_api(storage):
    storage.kv.put("a", {"x": 1})
    assert storage.kv.get("a") == {"x": 1}
    assert storage.kv.list() == [("a", {"x": 1})]
    assert storage.kv.delete("a") is True and storage.kv.get("a") is None


async def test_values_survive_reopening(tmp_path):
    first = ObjectStorage(tmp_path / "o.sqlite")
    await first.put("k", {"v": [1, 2]})
    first.close()
    second = ObjectStorage(tmp_path / "o.sqlite")
    try:
        assert await second.get("k") == {"v": [1, 2]}
    finally:
        second.close()
