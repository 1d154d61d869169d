"""Durable Objects (`[[durable_objects.bindings]]` + `[[migrations]]`): the binding kind.

`env.<name>` is a `DurableObjectNamespace` (`bindings.durable_objects.namespace`) for
the class `class_name` of this worker. The class is found in the post-load phase, in
the worker's main module, as Cloudflare requires it to be exported from the entry
point; a class the module lacks is Wrangler's error. Each class's objects keep their
state in `<state>/v3/do/<worker name>-<class>/<id>.sqlite`, the layout Miniflare uses.
A binding whose `script_name` names another worker is accepted (its calls say that edge
runs one worker); `environment` needs `script_name`, as Wrangler checks.

Behaviour chosen where Cloudflare's runtime cannot be copied exactly (storage calls that
never yield, the output gate, no eviction, no WebSockets) is described in the modules
and in docs/durable-objects.md.
"""

from __future__ import annotations

from typing import Any

from bindings.contract import BindingHost, BindingKind, BindingSpec, Field
from bindings.durable_objects import migrations
from bindings.durable_objects.namespace import DurableObjectNamespace
from bindings.durable_objects.objects import ObjectClass
from bindings.storage import binding_path
from emulator.errors import ConfigError

__all__ = ["KIND", "after_load", "build", "object_class"]

#: the compatibility date from which deleteAll() also deletes the alarm
DELETE_ALL_DELETES_ALARM_DATE = "2026-02-24"


def build(spec: BindingSpec, host: BindingHost) -> DurableObjectNamespace:
    """`env.<name>`; the class and its objects are attached by `after_load`."""
    options = spec.options
    return DurableObjectNamespace(spec.name or "", options["class_name"],
                                  external=options.get("script_name"))  # fmt: skip


def after_load(spec: BindingSpec, value: DurableObjectNamespace, worker: Any,
               host: BindingHost) -> None:  # fmt: skip
    """Find the class in the worker module and attach the namespace's objects."""
    config = worker.config
    if "environment" in spec.options and "script_name" not in spec.options:
        raise ConfigError(config.file, f"durable_objects binding {spec.name}",
                          'binding should have a "script_name" field if "environment" is '
                          "present.")  # fmt: skip
    if value.external is not None and value.external != config.name:
        return
    value.external = None
    found = migrations.read(config)
    class_name = value.class_name
    _check_class(worker, class_name)
    if class_name in found.deleted:
        raise ConfigError(
            config.file, found.deleted[class_name],
            f'class "{class_name}" is deleted here, but durable_objects binding '
            f"{spec.name} still uses it",
        )  # fmt: skip
    if not found.present:
        host.warn_once(f"do-no-migrations:{class_name}", _no_migrations(config, class_name))
    elif class_name not in found.backend:
        host.warn_once(
            f"do-no-migration:{class_name}",
            f'{config.file}: no [[migrations]] entry creates class "{class_name}" (binding '
            f"{spec.name}); Cloudflare refuses to deploy it. Add it to new_sqlite_classes "
            "(it runs with the legacy key-value backend until then)",
        )
    objects = object_class(config, spec, host, found)
    value.bind(objects, getattr(worker.module, class_name), worker.env)
    objects.attach(value)


def object_class(config: Any, spec: BindingSpec, host: BindingHost,
                 found: migrations.Migrations | None = None) -> ObjectClass:  # fmt: skip
    """The objects of `spec`'s class for this session (shared across reloads): their
    folder, ids and storage backend. Needs no worker code (the CLI uses it too)."""
    found = found if found is not None else migrations.read(config)
    class_name = spec.options["class_name"]
    unique_key = f"{config.name}-{found.origin.get(class_name, class_name)}"
    folder = binding_path(host, spec, "v3", "do", unique_key)
    objects = host.shared(f"durable_objects:{folder}", lambda: ObjectClass(folder, unique_key))
    objects.sql_enabled = found.backend.get(class_name) == "sqlite"
    objects.delete_all_deletes_alarm = (
        "delete_all_deletes_alarm" in config.compatibility_flags
        or (config.compatibility_date or "") >= DELETE_ALL_DELETES_ALARM_DATE
    )
    return objects


def _check_class(worker: Any, class_name: str) -> None:
    from emulator.sdk.entrypoints import DurableObject
    from emulator.worker import WorkerLoadError

    cls = getattr(worker.module, class_name, None)
    if isinstance(cls, type) and issubclass(cls, DurableObject):
        return
    hint = ""
    if cls is not None:
        hint = f" ({class_name} is defined, but does not subclass workers.DurableObject)"
    raise WorkerLoadError(
        worker.main,
        "Your Worker depends on the following Durable Objects, which are not exported in "
        f"your entrypoint file: {class_name}.\nYou should export these objects from your "
        f"entrypoint, {worker.main.name}.{hint}",
    )


def _no_migrations(config: Any, class_name: str) -> str:
    # Wrangler's warning (validation.ts, warnIfDurableObjectsHaveNoMigrations), suggesting
    # the SQLite backend, which Cloudflare now recommends for new classes
    return (
        f"In {config.file.name}, you have configured [durable_objects] exported by this "
        f"Worker ({class_name}), but no [migrations] for them. This may not work as expected "
        f"until you add a [migrations] section to your {config.file.name}. Add this "
        f'configuration to your {config.file.name}:\n\n  [[migrations]]\n  tag = "v1" # '
        f'Should be unique for each entry\n  new_sqlite_classes = ["{class_name}"]\n\n'
        "Refer to https://developers.cloudflare.com/durable-objects/reference/"
        "durable-objects-migrations/ for more details."
    )


def _describe(value: DurableObjectNamespace) -> list[str]:
    if value.external is not None:
        return [f"in worker {value.external} (not available: edge runs one worker)"]
    objects = value.attached
    if objects is None:
        return []
    backend = "SQLite" if objects.sql_enabled else "key-value"
    return [f"{backend} storage at {objects.folder}"]


def _close(value: DurableObjectNamespace) -> None:
    objects = value.attached
    if objects is not None:
        objects.detach(value)


KIND = BindingKind(
    "durable_objects",
    "Durable Object",
    shape="bindings",
    name_field="name",
    fields={
        "class_name": Field(required=True),
        "script_name": Field(),
        "environment": Field(),
    },
    value_keys=("class_name",),
    build=build,
    describe=_describe,
    after_load=after_load,
    close=_close,
)
