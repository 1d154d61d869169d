"""The bindings registry: one explicit table from a config binding kind to its module.

Miniflare's `plugins/index.ts` is the model: adding a binding kind is adding one module
and one row here. Each module exposes `build(spec, host) -> object`, the value the worker
sees as `env.<spec.name>`. Kinds listed in `PENDING` are recognised but not emulated yet;
`build_env` reports each of them once rather than dropping them silently.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.config import BindingSpec, WorkerConfig

log = logging.getLogger("edge.bindings")

#: kind -> module implementing `build(spec, host)`.
BINDINGS: dict[str, str] = {
    "ai": "bindings.ai.binding",
    "kv_namespaces": "bindings.kv",
    "d1_databases": "bindings.d1",
    "r2_buckets": "bindings.r2",
}

#: kinds Cloudflare has that the emulator recognises but does not emulate yet.
PENDING: frozenset[str] = frozenset(
    {
        "durable_objects",
        "queues",
        "services",
        "vectorize",
        "hyperdrive",
        "analytics_engine_datasets",
        "browser",
        "images",
        "send_email",
        "mtls_certificates",
        "dispatch_namespaces",
        "workflows",
        "version_metadata",
        "assets",
        "pipelines",
        "secrets_store_secrets",
        "ratelimits",
    }
)


@dataclass
class BindingHost:
    """What a binding module may use while building: long-lived services and settings.

    `shared(key, factory)` returns one object per key for the whole dev session, so a
    loaded model or a connection pool survives hot reloads; `close()` shuts them down.
    `options` holds emulator-wide settings from the CLI / environment / local file
    (e.g. `options["ai"]` routes), never from `wrangler.toml`.
    """

    state_dir: Path
    options: dict[str, Any] = field(default_factory=dict)
    _services: dict[str, Any] = field(default_factory=dict)
    _warned: set[str] = field(default_factory=set)

    @classmethod
    def for_worker(
        cls, config: WorkerConfig, state_dir: Path, *, ai_routes: Iterable[str] = ()
    ) -> BindingHost:
        """The host for one worker: `--ai-route` specs and its folder's `edge.toml`
        (`ConfigError` when that file is malformed), the keys binding modules read."""
        from emulator.local_settings import load_local_settings

        options = {
            "ai_routes": list(ai_routes),
            "local": load_local_settings(config.root),
            "root": config.root,
        }
        return cls(state_dir=state_dir, options=options)

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
        """Close every shared service that has an async `close()` (engines, pools)."""
        services, self._services = self._services, {}
        for service in services.values():
            closer = getattr(service, "close", None)
            if closer is not None:
                result = closer()
                if hasattr(result, "__await__"):
                    await result


def build_env(config: WorkerConfig, host: BindingHost) -> dict[str, Any]:
    """The worker's `env` contents: vars, secrets, then one entry per binding."""
    env: dict[str, Any] = {}
    env.update(config.vars)
    env.update(config.secrets)
    for spec in config.bindings:
        env_value = build_binding(spec, host)
        if env_value is not None:
            env[spec.name] = env_value
    return env


def build_binding(spec: BindingSpec, host: BindingHost) -> Any:
    module_name = BINDINGS.get(spec.kind)
    if module_name is None:
        why = "not emulated yet" if spec.kind in PENDING else "not a binding kind edge knows"
        host.warn_once(
            f"pending:{spec.kind}:{spec.name}",
            f"binding {spec.name} ({spec.kind}) is {why}; env.{spec.name} is not set",
        )
        return None
    module = importlib.import_module(module_name)
    return module.build(spec, host)
