"""`edge kv key put|get|list|delete`: the local half of `wrangler kv key`, on the KV
namespaces `edge dev` uses. The namespace is picked with `--binding` (or
`--namespace-id`), as with Wrangler."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from emulator.cli.local_state import open_binding, run, state_options


def _namespace(binding: str | None, namespace_id: str | None, state: dict):
    if (binding is None) == (namespace_id is None):
        raise click.UsageError("give exactly one of --binding and --namespace-id")
    return open_binding("kv_namespaces", binding or namespace_id, keys=("id",), state=state)


def _target(func):
    func = click.option("--namespace-id", help="The namespace's id.")(func)
    func = click.option("--binding", help="The namespace's binding name.")(func)
    return state_options(func)


@click.group("kv")
def kv() -> None:
    """Local Workers KV: read and write edge dev's namespaces."""


@kv.group("key")
def key() -> None:
    """Individual keys of a namespace."""


@key.command("put")
@click.argument("name")
@click.argument("value", required=False)
@_target
@click.option("--path", type=click.Path(exists=True, path_type=Path), help="Read the value here.")
@click.option("--ttl", type=int, help="Expire after this many seconds (>= 60).")
@click.option("--expiration", type=int, help="Expire at this epoch second.")
@click.option("--metadata", help="JSON metadata to store with the key.")
def put(name, value, binding, namespace_id, path, ttl, expiration, metadata, **state) -> None:
    """Store VALUE (or the contents of --path) under NAME."""

    if (value is None) == (path is None):
        raise click.UsageError("give exactly one of VALUE and --path")
    try:
        meta = json.loads(metadata) if metadata is not None else None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--metadata") from exc
    data = path.read_bytes() if path is not None else value
    ns, _spec, _config, host = _namespace(binding, namespace_id, state)
    options = {"expirationTtl": ttl, "expiration": expiration, "metadata": meta}
    run(host, ns.put(name, data, {k: v for k, v in options.items() if v is not None}))
    click.echo(f"Wrote {name!r} to {ns.namespace_id}")


@key.command("get")
@click.argument("name")
@_target
@click.option("--text", is_flag=True, help="Decode the value as UTF-8 text.")
def get(name, binding, namespace_id, text, **state) -> None:
    """Print the value of NAME (exit status 1 when there is none)."""

    ns, _spec, _config, host = _namespace(binding, namespace_id, state)
    value = run(host, ns.get(name, "text" if text else "arrayBuffer"))
    if value is None:
        raise click.ClickException(f"Value not found: {name!r}")
    if text:
        click.echo(value)
    else:
        sys.stdout.buffer.write(value)
        sys.stdout.buffer.flush()


@key.command("list")
@_target
@click.option("--prefix", default="", help="Only keys starting with this.")
def list_(binding, namespace_id, prefix, **state) -> None:
    """Print the keys as JSON (`[{name, expiration?, metadata?}]`), as Wrangler does."""

    ns, _spec, _config, host = _namespace(binding, namespace_id, state)

    async def everything() -> list:
        keys, cursor = [], None
        while True:
            page = await ns.list(prefix=prefix, cursor=cursor)
            keys.extend(page["keys"])
            if page["list_complete"]:
                return keys
            cursor = page["cursor"]

    click.echo(json.dumps(run(host, everything()), indent=2))


@key.command("delete")
@click.argument("name")
@_target
def delete(name, binding, namespace_id, **state) -> None:
    """Delete NAME."""

    ns, _spec, _config, host = _namespace(binding, namespace_id, state)
    run(host, ns.delete(name))
    click.echo(f"Deleted {name!r} from {ns.namespace_id}")
