"""What `ctx.storage` hands out besides itself: a transaction's `txn`, and the
synchronous `ctx.storage.kv` of SQLite-backed objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bindings.durable_objects.storage import ObjectStorage

__all__ = ["SyncKv", "Transaction"]

_OPERATIONS = frozenset({"get", "put", "delete", "list", "getAlarm", "setAlarm", "deleteAlarm"})


class Transaction:
    """The `txn` a `transaction()` closure gets: the KV API, plus `rollback()`."""

    def __init__(self, storage: ObjectStorage, savepoint: str) -> None:
        self._storage = storage
        self._savepoint = savepoint
        self.done = False

    def _check(self) -> ObjectStorage:
        if self.done:
            raise RuntimeError("This transaction has already completed or been rolled back.")
        return self._storage

    def __getattr__(self, name: str) -> Any:
        # get, put, delete, list and the alarm calls act on the storage, whose writes
        # are inside the transaction's savepoint
        if name in _OPERATIONS:
            return getattr(self._check(), name)
        raise AttributeError(name)

    def deleteAll(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Cannot call deleteAll() within a transaction")

    def rollback(self) -> None:
        """Undo the transaction's writes; its later calls fail."""
        storage = self._check()
        storage.db.execute(f"ROLLBACK TO {self._savepoint}")
        storage.db.execute(f"RELEASE {self._savepoint}")
        self.done = True


class SyncKv:
    """`ctx.storage.kv`: get/put/delete/list that return their results directly."""

    def __init__(self, storage: ObjectStorage) -> None:
        self._storage = storage

    def get(self, key: str) -> Any:
        return self._storage.get(key).value

    def put(self, key: str, value: Any) -> None:
        self._storage.put(key, value)

    def delete(self, key: str) -> bool:
        return self._storage.delete(key).value

    def list(self, options: dict | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        return list(self._storage.list(options, **kwargs).value.items())
