"""The live objects of one namespace: instances, events, the output gate, alarms.

One `ObjectClass` per namespace (`"<script>-<class>"`) lives for the whole dev session
(`BindingHost.shared`), so storage connections and alarm timers survive hot reloads,
while instances are rebuilt from the newly loaded class on their next event (new code,
same storage), as a deploy restarts objects on Cloudflare.

Every event (an RPC call, `fetch`, `alarm`) is delivered through the object's input
gate and runs as a task of its own: a caller that goes away does not cancel it, as a
client disconnecting does not stop a Durable Object. When it ends, the object's
pending writes are committed before its result is handed back (the output gate). An
object stays in memory for the session: edge does not evict idle objects.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bindings.durable_objects import alarms
from bindings.durable_objects.gate import InputGate
from bindings.durable_objects.ids import DurableObjectId, IdFactory
from bindings.durable_objects.state import DurableObjectState
from bindings.durable_objects.storage import ObjectStorage
from bindings.storage import state_path
from emulator.sdk.attrdict import AttrDict

if TYPE_CHECKING:
    from bindings.durable_objects.namespace import DurableObjectNamespace

__all__ = ["LiveObject", "ObjectClass", "handler"]

log = logging.getLogger("edge.durable_objects")


class ObjectClass:
    """Every object of one namespace in this session; `close()` commits and stops them."""

    def __init__(self, folder: Path, unique_key: str) -> None:
        self.folder = folder
        self.ids = IdFactory(unique_key)
        self.sql_enabled = True
        self.delete_all_deletes_alarm = False
        self.objects: dict[str, LiveObject] = {}
        self.alarms = alarms.AlarmTimers(self._fire_alarm)
        self._bound: list[DurableObjectNamespace] = []
        self._restored = False

    # --- the code that serves it ---------------------------------------------------------

    def attach(self, namespace: DurableObjectNamespace) -> None:
        """`namespace` (a binding of a newly loaded worker) now serves alarms; the stored
        alarms are scheduled the first time."""
        if namespace not in self._bound:
            self._bound.append(namespace)
        if not self._restored:
            self._restored = True
            for key, ms in alarms.stored(self.folder).items():
                self.alarms.schedule(key, ms)
        self.alarms.start()

    def detach(self, namespace: DurableObjectNamespace) -> None:
        if namespace in self._bound:
            self._bound.remove(namespace)

    @property
    def current(self) -> DurableObjectNamespace | None:
        return self._bound[-1] if self._bound else None

    # --- objects -----------------------------------------------------------------------

    def live(self, object_id: DurableObjectId) -> LiveObject:
        key = str(object_id)
        found = self.objects.get(key)
        if found is None:
            found = self.objects[key] = LiveObject(self, object_id)
        return found

    def path(self, key: str) -> Path:
        return state_path(self.folder, f"{key}.sqlite")

    def stored_ids(self) -> list[str]:
        """Hex ids of every object with storage, in this session or earlier ones."""
        on_disk = {p.stem for p in self.folder.glob("*.sqlite")} if self.folder.is_dir() else set()
        return sorted(on_disk | {k for k, o in self.objects.items() if o.storage.path.exists()})

    async def _fire_alarm(self, key: str, retry: int) -> None:
        namespace = self.current
        if namespace is None or namespace.cls is None:
            return  # no code loaded; attach() reschedules from storage
        await self.live(self.ids.from_string(key)).run_alarm(namespace, retry)

    async def close(self) -> None:
        await self.alarms.close()
        for obj in self.objects.values():
            await obj.close()
        self.objects.clear()


class LiveObject:
    """One object: its storage (kept across reloads) and its current instance."""

    def __init__(self, owner: ObjectClass, object_id: DurableObjectId) -> None:
        self.owner = owner
        self.id = object_id
        self.key = str(object_id)
        self.storage = self._storage()
        self.instance: Any = None
        self.cls: type | None = None
        self.gate = InputGate()
        self._tasks: set[asyncio.Future[Any]] = set()

    def _storage(self) -> ObjectStorage:
        owner = self.owner
        return ObjectStorage(
            owner.path(self.key),
            sql_enabled=owner.sql_enabled,
            delete_all_deletes_alarm=owner.delete_all_deletes_alarm,
            on_alarm=lambda ms: owner.alarms.schedule(self.key, ms),
            can_set_alarm=lambda: self.cls is None or handler(self.cls, "alarm") is not None,
        )

    def reset(self, error: BaseException) -> None:
        """Drop the instance: the next event builds a new one (storage is kept; a
        storage that failed is reopened)."""
        self.instance = None
        self.gate.broken = self.gate.broken or error
        if self.storage.broken is not None:
            self.storage.close()
            self.storage = self._storage()

    def _instance(self, namespace: DurableObjectNamespace) -> Any:
        cls = namespace.cls
        if self.instance is not None and self.cls is cls and self.gate.broken is None:
            return self.instance
        self.storage.sql_enabled = self.owner.sql_enabled
        self.gate = InputGate(on_reset=self.reset)
        self.cls = cls
        state = DurableObjectState(self.id, self.storage, self.gate, self.reset)
        assert cls is not None
        self.instance = None  # until the constructor returns
        self.instance = cls(state, namespace.env)
        return self.instance

    async def deliver(self, namespace: DurableObjectNamespace, invoke: Callable[[Any], Any]) -> Any:
        """Run `invoke(instance)` as one event; returns its result once the event's
        writes are committed. Exceptions are the object's own."""
        instance = self._instance(namespace)
        task = asyncio.ensure_future(self._run(instance, self.gate, invoke))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    async def _run(self, instance: Any, gate: InputGate, invoke: Callable[[Any], Any]) -> Any:
        # the gate is checked as the event starts, after the events delivered before it
        # have run up to their first real await (as JS delivers them one at a time)
        await gate.enter()
        try:
            result = invoke(instance)
            if inspect.isawaitable(result):
                result = await result
        except BaseException:
            self._commit(quiet=True)
            raise
        self._commit()
        return result

    def _commit(self, quiet: bool = False) -> None:
        try:
            self.storage.flush()
        except Exception as exc:
            self.reset(exc)
            if not quiet:
                raise
            log.exception("committing Durable Object %s failed", self.key)

    async def run_alarm(self, namespace: DurableObjectNamespace, retry: int,
                        now_due: bool = False) -> bool:  # fmt: skip
        """Run the `alarm()` handler if the alarm is due (or set at all, with `now_due`);
        retried with backoff on failure. True when the handler ran."""
        storage = self.storage
        due = storage.read_alarm()
        now = int(time.time() * 1000)
        if due is None:
            return False
        if due > now and not now_due:
            self.owner.alarms.schedule(self.key, due, retry)  # moved since the timer was set
            return False
        if namespace.cls is None or handler(namespace.cls, "alarm") is None:
            log.warning("Durable Object %s has an alarm but its class has no alarm() handler; "
                        "the alarm is deleted", self.key)  # fmt: skip
            storage.deleteAlarm()
            storage.flush()
            return False
        info = AttrDict(retryCount=retry, isRetry=retry > 0)
        storage.alarm_running, storage.alarm_touched = True, False
        try:
            await self.deliver(namespace, lambda instance: call(handler(instance, "alarm"), info))
        except Exception:
            log.exception("alarm() of Durable Object %s failed (retry %d of %d)", self.key,
                          retry, alarms.MAX_RETRIES)  # fmt: skip
            if not storage.alarm_touched:
                if retry < alarms.MAX_RETRIES:
                    delay = alarms.RETRY_DELAY * 2**retry
                    self.owner.alarms.schedule(self.key, now + int(delay * 1000), retry + 1)
                else:
                    storage.deleteAlarm()
                    storage.flush()
            return True
        finally:
            storage.alarm_running = False
        if not storage.alarm_touched:
            storage.deleteAlarm()
            storage.flush()
        return True

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.storage.close()


def handler(target: Any, name: str) -> Any:
    """`target`'s handler `name` (e.g. `fetch`), or its legacy `on_<name>` form, or None."""
    from emulator.sdk.entrypoints import DurableObject

    for attr in (name, f"on_{name}"):
        found = getattr(target, attr, None)
        if callable(found) and getattr(DurableObject, attr, None) is not found:
            return found
    return None


def call(function: Any, *args: Any) -> Any:
    """Call a handler with as many of `args` as it accepts positionally."""
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return function(*args)
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return function(*args)
    count = sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    return function(*args[:count])
