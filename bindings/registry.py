"""The bindings registry: one explicit table from a `wrangler.toml` binding kind to its module.

Miniflare's `plugins/index.ts` is the model. Each module in `KINDS` declares its kind in
one `KIND = BindingKind(...)` (see `bindings.contract`): adding a binding kind is adding
one module and one row here; config parsing, the banner, `env`, the dev server's
start-up checks and side apps, and the request path all read it from here. Modules are
imported only when a worker uses their kind, so a worker without AI never imports the
AI stack.

Kinds in `PENDING` are recognised (their config is parsed and checked, the banner lists
them) but not emulated yet; building reports each of them once rather than dropping
them silently.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from bindings.contract import BindingHost, BindingKind, BindingSpec

if TYPE_CHECKING:
    from emulator.config import WorkerConfig

__all__ = ["KINDS", "PENDING", "BindingHost", "all_kinds", "build_binding", "build_env", "get"]

#: kind -> module whose `KIND` is its `BindingKind`.
KINDS: dict[str, str] = {
    "ai": "bindings.ai.binding",
    "kv_namespaces": "bindings.kv",
    "d1_databases": "bindings.d1",
    "r2_buckets": "bindings.r2",
    "durable_objects": "bindings.durable_objects.binding",
    "assets": "bindings.assets.binding",
}


def _pending(kind: str, label: str, shape: str = "array", name_field: str = "binding",
             **extra: Any) -> BindingKind:  # fmt: skip
    return BindingKind(kind, label, shape=shape, name_field=name_field, **extra)  # type: ignore[arg-type]


#: kinds Cloudflare has that edge recognises but does not emulate yet (labels as
#: Wrangler prints them: workers-sdk `packages/wrangler/src/utils/print-bindings.ts`).
PENDING: dict[str, BindingKind] = {
    k.kind: k
    for k in (
        _pending("queues", "Queue", "producers", value_keys=("queue",)),
        _pending("services", "Worker", value_keys=("service",)),
        _pending("vectorize", "Vectorize Index", value_keys=("index_name",)),
        _pending("hyperdrive", "Hyperdrive Config", value_keys=("id",)),
        _pending("analytics_engine_datasets", "Analytics Engine Dataset", value_keys=("dataset",)),
        _pending("dispatch_namespaces", "Dispatch Namespace", value_keys=("namespace",)),
        _pending("mtls_certificates", "mTLS Certificate", value_keys=("certificate_id",)),
        _pending("workflows", "Workflow", value_keys=("name",)),
        _pending("pipelines", "Pipeline", value_keys=("pipeline",)),
        _pending("send_email", "Send Email", name_field="name"),
        _pending("secrets_store_secrets", "Secrets Store Secret", value_keys=("secret_name",)),
        _pending("ratelimits", "Rate Limit", name_field="name"),
        _pending("browser", "Browser", "table"),
        _pending("images", "Images", "table"),
        _pending("version_metadata", "Worker Version Metadata", "table"),
    )
}

def get(kind: str) -> BindingKind | None:
    """The `BindingKind` of a wrangler key (importing its module on first use), or None."""
    module_name = KINDS.get(kind)
    if module_name is None:
        return PENDING.get(kind)
    found = importlib.import_module(module_name).KIND
    if found.kind != kind:
        raise RuntimeError(f"{module_name}.KIND is for {found.kind!r}, registered as {kind!r}")
    return found


def names() -> list[str]:
    """Every kind edge recognises, emulated first (the order config parsing uses)."""
    return [*KINDS, *(k for k in PENDING if k not in KINDS)]


def all_kinds() -> Iterator[BindingKind]:
    """Every recognised kind. Imports every emulated kind's module: for listings, not for
    the start-up path (which looks up only the kinds a worker uses)."""
    for kind in names():
        found = get(kind)
        assert found is not None
        yield found


def build_binding(spec: BindingSpec, host: BindingHost) -> Any:
    """The value of one binding (None, reported once, for a kind not emulated yet)."""
    kind = get(spec.kind)
    if kind is None or kind.build is None:
        why = "not emulated yet" if kind is not None else "not a binding kind edge knows"
        what = f"binding {spec.name} ({spec.kind})" if spec.name else f"[{spec.kind}]"
        unset = f"; env.{spec.name} is not set" if spec.name else "; ignored"
        host.warn_once(f"pending:{spec.kind}:{spec.name}", f"{what} is {why}{unset}")
        return None
    return kind.build(spec, host)


def build_bindings(config: WorkerConfig, host: BindingHost) -> list[tuple[BindingSpec, Any]]:
    """Every binding of `config` with its built value (None for a pending kind)."""
    return [(spec, build_binding(spec, host)) for spec in config.bindings]


def build_env(
    config: WorkerConfig,
    host: BindingHost,
    bound: list[tuple[BindingSpec, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The worker's `env` contents: vars, secrets, then one entry per named binding
    (from `bound` when given, else built now), then `extra` (a test's own fakes)."""
    env: dict[str, Any] = {}
    env.update(config.vars)
    env.update(config.secrets)
    for spec, value in bound if bound is not None else build_bindings(config, host):
        if spec.name is not None and value is not None:
            env[spec.name] = value
    env.update(extra or {})
    return env
