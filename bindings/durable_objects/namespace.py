"""`env.<BINDING>` of a Durable Object namespace, and the stubs it hands out.

https://developers.cloudflare.com/durable-objects/api/namespace/ and `.../api/stub/`,
as Python Workers call them through the `workers` SDK (workerd `_workers.py`:
`_DurableObjectNamespaceWrapper`, `_FetcherWrapper`): `idFromName`, `idFromString`,
`newUniqueId(jurisdiction=...)`, `get`, `getByName`, `jurisdiction`; a stub's
`await stub.method(*args)` is an RPC call whose arguments and result are
structured-cloned (`bindings.durable_objects.clone`), and `await stub.fetch(url or
request, method=, headers=, body=)` calls the object's `fetch`.

An exception raised in the object reaches the caller with its message, as the nearest
built-in exception class (a `ValueError` subclass arrives as `ValueError`, any other
class as `Exception`: the class itself does not cross the boundary), with
`.remote = True` as Cloudflare sets it, and chained to the original for the traceback.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from bindings.durable_objects import clone
from bindings.durable_objects.ids import DurableObjectId, IdFactory, check_jurisdiction
from bindings.durable_objects.objects import call, handler
from emulator.sdk import Request, Response

if TYPE_CHECKING:
    from bindings.durable_objects.objects import ObjectClass

__all__ = ["DurableObjectNamespace", "DurableObjectStub", "remote_error", "target"]

_FETCH_OPTIONS = frozenset({"method", "headers", "body", "redirect", "cf", "fetcher"})
_BUILTIN_EXCEPTIONS = frozenset(
    value for value in vars(builtins).values()
    if isinstance(value, type) and issubclass(value, Exception)
)


class DurableObjectNamespace:
    """A Durable Object binding: ids and stubs for the objects of one class."""

    def __init__(self, binding: str, class_name: str, *, external: str | None = None,
                 parent: DurableObjectNamespace | None = None,
                 jurisdiction: str | None = None) -> None:  # fmt: skip
        self.binding = binding
        self.class_name = class_name
        self.external = external  # the other worker's name, when script_name points there
        self._parent = parent
        self._jurisdiction = jurisdiction
        # set by the post-load phase (bindings.durable_objects.binding.after_load)
        self._objects: ObjectClass | None = None
        self._cls: type | None = None
        self._env: Any = None

    @property
    def objects(self) -> ObjectClass:
        root = self._root()
        if root._objects is None:
            raise RuntimeError(self._unavailable())
        return root._objects

    @property
    def attached(self) -> ObjectClass | None:
        """The namespace's objects once the worker is loaded (None before, or external)."""
        return self._root()._objects

    @property
    def cls(self) -> type | None:
        return self._root()._cls

    @property
    def env(self) -> Any:
        return self._root()._env

    def bind(self, objects: ObjectClass, cls: type, env: Any) -> None:
        self._objects, self._cls, self._env = objects, cls, env

    def _root(self) -> DurableObjectNamespace:
        return self._parent if self._parent is not None else self

    def _unavailable(self) -> str:
        if self.external is not None:
            return (
                f'Durable Object "{self.class_name}" of script "{self.external}" is not '
                f"available: edge runs one worker, and binding {self.binding} points at "
                "another one (define the class in this worker and drop script_name)"
            )
        return f"binding {self.binding} is not ready: the worker has not finished loading"

    # --- ids -----------------------------------------------------------------------------

    @property
    def _ids(self) -> IdFactory:
        return self.objects.ids

    def idFromName(self, name: str) -> DurableObjectId:
        """The id of the object called `name` (always the same id for the same name)."""
        return self._ids.from_name(name, self._jurisdiction)

    def idFromString(self, text: str) -> DurableObjectId:
        """The id whose `str()` is `text` (64 hex digits made by this namespace)."""
        return self._ids.from_string(text)

    def newUniqueId(self, options: dict | None = None, *, jurisdiction: str | None = None
                    ) -> DurableObjectId:  # fmt: skip
        """A new random id, never handed out before."""
        jurisdiction = (options or {}).get("jurisdiction", jurisdiction) or self._jurisdiction
        return self._ids.new_unique(jurisdiction)

    id_from_name, id_from_string, new_unique_id = idFromName, idFromString, newUniqueId

    # --- stubs ---------------------------------------------------------------------------

    def get(self, object_id: DurableObjectId, options: dict | None = None,
            **kwargs: Any) -> DurableObjectStub:  # fmt: skip
        """A stub for the object `object_id` (created on its first event). Options
        (`locationHint`, `routingMode`) are accepted; there is one location here."""
        if not isinstance(object_id, DurableObjectId):
            raise TypeError(
                f"get() takes a DurableObjectId (from idFromName, idFromString or "
                f"newUniqueId), got {type(object_id).__name__}"
            )
        if object_id.namespace_key != self._ids.unique_key:
            raise TypeError("Durable Object ID is not valid for this namespace.")
        if self._jurisdiction is not None and object_id.jurisdiction != self._jurisdiction:
            raise TypeError(
                "get called on jurisdictional subnamespace with an ID from a different "
                "jurisdiction"
            )
        return DurableObjectStub(self, object_id)

    def getByName(self, name: str, options: dict | None = None,
                  **kwargs: Any) -> DurableObjectStub:  # fmt: skip
        """`get(idFromName(name))`."""
        return self.get(self.idFromName(name), options, **kwargs)

    get_by_name = getByName

    def jurisdiction(self, jurisdiction: str) -> DurableObjectNamespace:
        """The subnamespace whose ids are restricted to `jurisdiction` (e.g. "eu")."""
        check_jurisdiction(jurisdiction)
        return DurableObjectNamespace(self.binding, self.class_name, external=self.external,
                                      parent=self._root(), jurisdiction=jurisdiction)  # fmt: skip

    def __repr__(self) -> str:
        return f"<DurableObjectNamespace {self.binding} ({self.class_name})>"


class DurableObjectStub:
    """A client of one object: `await stub.method(...)` (RPC) and `await stub.fetch(...)`."""

    __edge_rpc_reference__ = True  # crosses RPC as itself, as stubs do on Cloudflare

    def __init__(self, namespace: DurableObjectNamespace, object_id: DurableObjectId) -> None:
        self._namespace = namespace
        self.id = object_id

    @property
    def name(self) -> str | None:
        return self.id.name

    async def fetch(self, resource: str | Request, **options: Any) -> Response:
        """Send a request to the object's `fetch(request)`; `resource` is an absolute URL
        or a `workers.Request`, options as `workers.fetch` takes them."""
        request = _request(resource, options)

        def invoke(instance: Any) -> Any:
            fetch = handler(instance, "fetch")
            if fetch is None:
                raise TypeError("Handler does not export a fetch() function.")
            return call(fetch, request)

        response = await self._deliver(invoke)
        if not isinstance(response, Response):
            raise TypeError(
                f"{self._namespace.class_name}.fetch() returned {type(response).__name__}, "
                "expected a workers.Response"
            )
        return response

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        async def rpc(*args: Any, **kwargs: Any) -> Any:
            sent = clone.to_rpc(list(args))
            named = {key: clone.to_rpc(value) for key, value in kwargs.items()}
            result = await self._deliver(lambda instance: _method(instance, name)(*sent, **named))
            return clone.to_rpc(result)

        rpc.__name__ = name
        return rpc

    async def _deliver(self, invoke: Any) -> Any:
        namespace = self._namespace
        live = namespace.objects.live(self.id)
        try:
            return await live.deliver(namespace, invoke)
        except Exception as exc:
            raise remote_error(exc) from exc

    def __repr__(self) -> str:
        return f"<DurableObjectStub {self._namespace.class_name} {self.id}>"


def target(stub: DurableObjectStub) -> tuple[DurableObjectNamespace, DurableObjectId]:
    """The namespace and id a stub calls (a function, so no stub attribute can shadow an
    RPC method of the same name)."""
    return stub._namespace, stub.id


def _method(instance: Any, name: str) -> Any:
    found = None if name.startswith("_") else getattr(instance, name, None)
    if not callable(found):
        raise TypeError(f'The RPC receiver does not implement the method "{name}".')
    return found


def _request(resource: Any, options: dict[str, Any]) -> Request:
    unknown = set(options) - _FETCH_OPTIONS
    if unknown:
        raise TypeError(f"fetch() got unexpected option(s): {', '.join(sorted(unknown))}")
    options = {k: v for k, v in options.items() if k != "fetcher"}
    if not isinstance(resource, Request | str):
        raise TypeError(
            f"fetch() takes a URL or a workers.Request, got {type(resource).__name__}"
        )
    return Request(resource, **options)


def remote_error(exc: Exception) -> Exception:
    """The exception a caller sees for `exc` raised inside an object."""
    base = next(c for c in type(exc).__mro__ if c in _BUILTIN_EXCEPTIONS)
    try:
        error = base(*exc.args)
    except Exception:
        error = Exception(str(exc))
    error.remote = True  # type: ignore[attr-defined]
    return error
