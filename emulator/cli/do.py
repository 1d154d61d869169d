"""`edge do list|dump`: look at the Durable Objects `edge dev` stored for a worker
(there is no `wrangler` equivalent for local state). The namespace is picked with
`--binding` (its name or class name); output is JSON."""

from __future__ import annotations

import json

import click

from emulator.cli.local_state import open_binding, state_options


def _objects(binding: str, state: dict):
    from bindings.durable_objects.binding import object_class

    _value, spec, config, host = open_binding(
        "durable_objects", binding, keys=("class_name",), state=state
    )
    return object_class(config, spec, host)  # a bad [[migrations]]: a ConfigError


@click.group("do")
def do() -> None:
    """Local Durable Objects: list and dump what edge dev stored."""


@do.command("list")
@click.option("--binding", required=True, help="The namespace's binding or class name.")
@state_options
def list_(binding, **state) -> None:
    """Print every object with storage: id, bytes, keys, SQL tables, alarm."""
    from bindings.durable_objects.dump import summary

    click.echo(json.dumps(summary(_objects(binding, state)), indent=2))


@do.command("dump")
@click.argument("object_id", required=False)
@click.option("--binding", required=True, help="The namespace's binding or class name.")
@click.option("--name", help="The object's name (as given to idFromName / getByName).")
@state_options
def dump(object_id, binding, name, **state) -> None:
    """Print one object's KV entries, SQL rows and alarm (OBJECT_ID or --name)."""
    from bindings.durable_objects.dump import dump as dump_object

    if (object_id is None) == (name is None):
        raise click.UsageError("give exactly one of OBJECT_ID and --name")
    objects = _objects(binding, state)
    try:
        key = str(objects.ids.from_name(name) if name is not None
                  else objects.ids.from_string(object_id))  # fmt: skip
    except TypeError as exc:
        raise click.ClickException(str(exc)) from exc
    if key not in objects.stored_ids():
        raise click.ClickException(f"no stored object {key} in {objects.folder}")
    click.echo(json.dumps(dump_object(objects, key), indent=2, default=repr))
