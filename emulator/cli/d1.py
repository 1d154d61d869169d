"""`edge d1`: the local half of `wrangler d1` (`execute`, `migrations list/apply`).

Works on the same files `edge dev` uses (`.wrangler/state/v3/d1/<id>.sqlite`, or
`--persist-to`). DATABASE is the binding name or the `database_name`, as with Wrangler.
`--local` is accepted (it is the only mode); `--remote` is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.argument("database"),
            click.option(
                "-c",
                "--config",
                "config_file",
                type=click.Path(path_type=Path),
                help="wrangler.toml / wrangler.json(c) to use.",
            ),
            click.option("-e", "--env", help="Use the [env.<name>] section of the config."),
            click.option(
                "--persist-to",
                type=click.Path(path_type=Path),
                help="Folder of local state (default: <root>/.wrangler/state).",
            ),
            click.option("--local", is_flag=True, help="Accepted for Wrangler parity (default)."),
            click.option("--remote", is_flag=True, hidden=True),
            click.option("--cwd", type=click.Path(path_type=Path), help="Worker folder."),
        ]
    ):
        func = option(func)
    return func


def _open(database: str, config_file, env, persist_to, remote, cwd):
    """The D1 database object, its binding spec, the config and the binding host."""
    from bindings import d1
    from bindings.registry import BindingHost
    from emulator.config import ConfigError, load_config

    if remote:
        raise click.UsageError("edge is local only: --remote is not supported")
    try:
        config = load_config(cwd, config_file=config_file, env=env)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    specs = [s for s in config.bindings if s.kind == "d1_databases"]
    for spec in specs:
        if database in (spec.name, spec.options.get("database_name")):
            break
    else:
        known = ", ".join(f"{s.name} ({s.options.get('database_name', '-')})" for s in specs)
        raise click.ClickException(
            f"no D1 database {database!r} in {config.file}; defined: {known or 'none'}"
        )
    state = Path(persist_to).resolve() if persist_to else config.root / ".wrangler" / "state"
    host = BindingHost(state_dir=state)
    return d1.build(spec, host), spec, config, host


@click.group("d1")
def d1() -> None:
    """Local D1 databases: run SQL and migrations against edge dev's state."""


@d1.command("execute")
@_common
@click.option("--command", "sql", help="SQL to run (several statements allowed).")
@click.option("--file", "file", type=click.Path(exists=True, path_type=Path), help="SQL file.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def execute(database, config_file, env, persist_to, local, remote, cwd, sql, file, as_json):
    """Run SQL against the local database DATABASE."""
    if (sql is None) == (file is None):
        raise click.UsageError("give exactly one of --command and --file")
    text = sql if sql is not None else file.read_text(encoding="utf-8")
    db, _spec, _config, host = _open(database, config_file, env, persist_to, remote, cwd)
    asyncio.run(_execute(db, host, text, as_json))


async def _execute(db, host, text: str, as_json: bool) -> None:
    import json

    from bindings.d1 import D1Error, split_statements

    try:
        results = [await db.prepare(sql).all() for sql in split_statements(text)]
    except D1Error as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        await host.close()
    if as_json:
        click.echo(json.dumps(results, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for result in results:
        if result.results:
            table = Table(*result.results[0].keys())
            for row in result.results:
                table.add_row(*(str(value) for value in row.values()))
            console.print(table)
        else:
            console.print(f"OK: {result.meta.changes} row(s) changed")


@d1.group("migrations")
def migrations() -> None:
    """List and apply the .sql files of the database's migrations_dir."""


@migrations.command("list")
@_common
def list_(database, config_file, env, persist_to, local, remote, cwd):
    """Show the migrations not applied yet."""
    from bindings import d1_migrations as m

    db, spec, config, host = _open(database, config_file, env, persist_to, remote, cwd)

    async def run():
        try:
            return await m.pending(db, m.migrations_dir(config, spec), m.migrations_table(spec))
        finally:
            await host.close()

    todo = asyncio.run(run())
    if not todo:
        click.echo("No migrations to apply.")
    for path in todo:
        click.echo(path.name)


@migrations.command("apply")
@_common
def apply(database, config_file, env, persist_to, local, remote, cwd):
    """Apply the pending migrations in order (each in its own transaction)."""
    from bindings import d1_migrations as m
    from bindings.d1 import D1Error

    db, spec, config, host = _open(database, config_file, env, persist_to, remote, cwd)

    async def run():
        try:
            return await m.apply(db, m.migrations_dir(config, spec), m.migrations_table(spec))
        finally:
            await host.close()

    try:
        done = asyncio.run(run())
    except D1Error as exc:
        raise click.ClickException(str(exc)) from exc
    if not done:
        click.echo("No migrations to apply.")
    for name in done:
        click.echo(f"applied {name}")
