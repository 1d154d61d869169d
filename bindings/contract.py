"""The contract between edge and a binding kind: one `BindingKind` per `wrangler.toml` key.

Miniflare's plugins are the model (workers-sdk `packages/miniflare/src/plugins/index.ts`:
one `PLUGINS` table; each plugin's `options` schema, `getBindings` and `getServices`).
A binding module declares everything about its kind in one `KIND = BindingKind(...)`:

- `kind`, the wrangler key (`kv_namespaces`), and the config `shape`: `"table"` (`[ai]`),
  `"array"` (`[[kv_namespaces]]`), `"bindings"` (`[durable_objects]` with a `bindings`
  array) or `"producers"` (`[[queues.producers]]`); `name_field` holds the env name.
- `fields`: the keys edge reads, each a `Field` (type, required, pattern); a wrong one is
  a `ConfigError` naming the file and the dotted key. Other keys get a warning.
- `label` (the banner's resource column) and `value_keys` (`value_label(spec)`: the
  first of these options that is set, e.g. the namespace id).
- `build(spec, host) -> value`: what the worker sees as `env.<name>`. Called on every
  load (start and each hot reload), so long-lived state belongs in `host.shared(...)`,
  which survives reloads; the host closes what it holds at shutdown.
- Optional hooks, each given the built value: `describe(value)` (banner detail lines),
  `startup(value)` (awaited once per binding by `edge dev`: health checks, warm-up),
  `close(value)` (the value is retired: a reload replaced it, or the session ended),
  `after_load(spec, value, worker, host)` (the worker module is imported: Durable Object
  classes are found in `worker.module` here; raising fails the load, so a reload keeps
  the last good worker), `side_app(host, token)` (an ASGI app `edge dev` serves on a
  port of its own, e.g. the Workers AI REST API) and `middleware(spec, value, host)`.

`middleware` is how a kind takes part in the request path without the app naming it:
it returns a `Middleware`, `async (request, ctx, call_next) -> Response`, which the
loaded `Worker` runs around its fetch handler, in config order, under `edge dev` and in
the test harness alike. Static assets are the intended user: `[assets]` has
`optional_name=True` (it is a binding only when `binding` is set, but always yields a
spec), `inheritable=True`, and its middleware answers asset paths itself and calls
`call_next(request, ctx)` for the rest (or first, for `run_worker_first` paths); its
`build` gives `env.ASSETS` (a `fetch(request)` over the same files).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from emulator.config_checks import check_unknown, expect
from emulator.errors import ConfigError
from emulator.local_settings import LocalSettings

if TYPE_CHECKING:
    from emulator.context import ExecutionContext
    from emulator.sdk import Request, Response

__all__ = [
    "BindingHost",
    "BindingKind",
    "BindingSpec",
    "Field",
    "Handler",
    "Middleware",
    "SideApp",
]

log = logging.getLogger("edge.bindings")

Shape = Literal["table", "array", "bindings", "producers"]
#: the worker's fetch, as a middleware's `call_next` sees it.
Handler = Callable[["Request", "ExecutionContext"], Awaitable["Response"]]
Middleware = Callable[["Request", "ExecutionContext", Handler], Awaitable["Response"]]
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

#: keys any binding table may carry that edge does not use (`remote = true` asks
#: `wrangler dev` for the remote resource; edge is local only).
COMMON_KEYS = frozenset({"remote", "database_internal_env"})


@dataclass(frozen=True)
class BindingSpec:
    """One binding from the config: its kind (the wrangler key, e.g. `ai`, `kv_namespaces`),
    the name it gets in `env` (e.g. `AI`; None for a kind whose name is optional and not
    set, e.g. `[assets]` without `binding`), and the raw table it came from."""

    kind: str
    name: str | None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Field:
    """A key of a binding table that edge reads: its type (`what` names it in errors),
    whether it is required, and a pattern a string value must match in full (`expected`
    says what that means, e.g. "a bucket name of 3-63 lower-case letters ...")."""

    type: type | tuple[type, ...] = str
    what: str = "a string"
    required: bool = False
    pattern: str | None = None
    expected: str = ""

    def check(self, value: Any, file: Path, key: str) -> None:
        expect(value, self.type, file, key, self.what)
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ConfigError(file, key, f"expected {self.expected}, got {value!r}")


@dataclass(frozen=True)
class SideApp:
    """An ASGI app a binding kind serves beside the worker (`edge dev` gives it a port)."""

    title: str  # e.g. "Workers AI REST API": the banner says "<title> on <url>"
    app: ASGIApp


@dataclass(frozen=True)
class BindingKind:
    """Everything edge knows about one binding kind; see the module docstring."""

    kind: str
    label: str
    shape: Shape = "array"
    name_field: str = "binding"
    optional_name: bool = False
    inheritable: bool = False  # inherited by [env.<name>] sections (Wrangler: only assets)
    fields: Mapping[str, Field] | None = None  # None: keys are not checked
    value_keys: tuple[str, ...] = ()
    build: Callable[[BindingSpec, BindingHost], Any] | None = None  # None: not emulated yet
    describe: Callable[[Any], list[str]] | None = None
    startup: Callable[[Any], Awaitable[None]] | None = None
    close: Callable[[Any], Awaitable[None] | None] | None = None
    after_load: Callable[[BindingSpec, Any, Any, BindingHost], None] | None = None
    side_app: Callable[[BindingHost, str | None], SideApp | None] | None = None
    middleware: Callable[[BindingSpec, Any, BindingHost], Middleware | None] | None = None

    @property
    def emulated(self) -> bool:
        return self.build is not None

    def specs(self, value: Any, file: Path, key: str) -> list[BindingSpec]:
        """The bindings declared by `value` (this kind's raw config at `key`), checked."""
        if self.shape == "table":
            expect(value, dict, file, key, "a table")
            items = [(key, value)]
        elif self.shape == "array":
            expect(value, list, file, key, f"an array of tables ([[{key}]])")
            items = [(f"{key}[{i}]", item) for i, item in enumerate(value)]
        else:
            sub = self.shape  # "bindings" or "producers"
            expect(value, dict, file, key, f"a table with a `{sub}` array")
            entries = value.get(sub, [])
            expect(entries, list, file, f"{key}.{sub}", "an array of tables")
            items = [(f"{key}.{sub}[{i}]", item) for i, item in enumerate(entries)]
        return [self._spec(item, file, item_key) for item_key, item in items]

    def _spec(self, item: Any, file: Path, key: str) -> BindingSpec:
        expect(item, dict, file, key, "a table")
        name = item.get(self.name_field)
        if name is None and not self.optional_name:
            raise ConfigError(file, f"{key}.{self.name_field}", "required: the name in env")
        if name is not None:
            expect(name, str, file, f"{key}.{self.name_field}", "a string")
        if self.fields is not None:
            for field_name, spec_field in self.fields.items():
                if field_name in item:
                    spec_field.check(item[field_name], file, f"{key}.{field_name}")
                elif spec_field.required:
                    raise ConfigError(file, f"{key}.{field_name}", "required")
            known = frozenset({self.name_field, *COMMON_KEYS, *self.fields})
            check_unknown(item, file, key + ".", allow=known)
        return BindingSpec(kind=self.kind, name=name, options=dict(item))

    def value_label(self, spec: BindingSpec) -> str:
        """What the banner shows as the binding's value: its id / bucket / ..., or "local"."""
        for key in self.value_keys:
            if spec.options.get(key):
                return str(spec.options[key])
        return "local"


@dataclass
class BindingHost:
    """What binding kinds use while building: the state folder, machine-local settings,
    the worker's configuration, and services shared for the whole session.

    `shared(key, factory)` returns one object per key for the whole dev session, so a
    loaded model or a connection pool survives hot reloads; `close()` shuts them down.
    `settings` are the machine-local settings (`edge.toml`, `--ai-route`, environment),
    never `wrangler.toml`; `edge dev` replaces them when `edge.toml` changes.
    """

    state_dir: Path
    settings: LocalSettings = field(default_factory=LocalSettings)
    #: the `WorkerConfig` being loaded (set by `emulator.loader.load`): its `root` for
    #: paths in binding tables (`[assets] directory`), its compatibility date and flags.
    config: Any = None
    _services: dict[str, Any] = field(default_factory=dict)
    _warned: set[str] = field(default_factory=set)

    def shared(self, key: str, factory: Callable[[], Any]) -> Any:
        if key not in self._services:
            self._services[key] = factory()
        return self._services[key]

    def services(self) -> dict[str, Any]:
        return dict(self._services)

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    async def close(self) -> None:
        """Close every shared service that has a `close()` (engines, pools, databases)."""
        services, self._services = self._services, {}
        for service in services.values():
            closer = getattr(service, "close", None)
            if closer is not None:
                result = closer()
                if hasattr(result, "__await__"):
                    await result
