"""Test helpers for Durable Objects, named after `cloudflare:test`'s (vitest-pool-workers):
`run_in_durable_object`, `run_durable_object_alarm`, `list_durable_object_ids`.
Exported by `emulator.testing`; they take the stubs and namespaces a test gets from
`worker.env`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from bindings.durable_objects.ids import DurableObjectId
from bindings.durable_objects.namespace import DurableObjectNamespace, DurableObjectStub, target

__all__ = ["list_durable_object_ids", "run_durable_object_alarm", "run_in_durable_object"]


async def run_in_durable_object(stub: DurableObjectStub, callback: Callable[[Any, Any], Any]
                                ) -> Any:  # fmt: skip
    """Run `callback(instance, ctx)` inside the object, as one of its events (through its
    input gate, its writes committed before this returns); returns what it returns."""

    def invoke(instance: Any) -> Any:
        return callback(instance, instance.ctx)

    namespace, object_id = _parts(stub)
    return await namespace.objects.live(object_id).deliver(namespace, invoke)


async def run_durable_object_alarm(stub: DurableObjectStub) -> bool:
    """Run the object's alarm now if one is set (as if it were due); False if none is."""
    namespace, object_id = _parts(stub)
    return await namespace.objects.live(object_id).run_alarm(namespace, 0, now_due=True)


def list_durable_object_ids(namespace: DurableObjectNamespace) -> list[DurableObjectId]:
    """The ids of every object of `namespace` that has stored something."""
    objects = namespace.objects
    return [objects.ids.from_string(key) for key in objects.stored_ids()]


def _parts(stub: Any) -> tuple[DurableObjectNamespace, DurableObjectId]:
    if not isinstance(stub, DurableObjectStub):
        what = "a coroutine (missing await?)" if inspect.iscoroutine(stub) else type(stub).__name__
        raise TypeError(f"expected a Durable Object stub (namespace.get(id)), got {what}")
    return target(stub)
