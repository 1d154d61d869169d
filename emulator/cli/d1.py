"""`edge d1`: the local half of `wrangler d1` (`execute`, `migrations list/apply`).

Works on the same files `edge dev` uses (`.wrangler/state/v3/d1/<id>.sqlite`, or
`--persist-to`). DATABASE is the binding name or the `database_name`, as with Wrangler.
`--local` is accepted (it is the only mode); `--remote` is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from emulator.cli.local_state import open_binding, run, state_options

_KEYS = ("database_name", "database_id")


@click.group("d1")
def d1() -> None:
    """Local D1 databases: run SQL and migrations against edge dev's state."""


@d1.command("execute")
@click.argument("database")
@state_options
@click.option("--command", "sql", help="SQL to run (several statements allowed).")
@click.option("--file", "file", type=click.Path(exists=True, path_type=Path), help="SQL file.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def execute(database: str, sql: str | None, file: Path | None, as_json: bool, **state) -> None:
    """Run SQL against the local database DATABASE."""
    from bindings.d1 import split_statements

    if (sql is None) == (file is None):
        raise click.UsageError("give exactly one of --command and --file")
    text = sql if sql is not None else file.read_text(encoding="utf-8")
    db, _spec, _config, host = open_binding("d1_databases", database, keys=_KEYS, state=state)

    async def work() -> list:
        return [await db.prepare(statement).all() for statement in split_statements(text)]

    results = run(host, work())
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
@click.argument("database")
@state_options
def list_(database: str, **state) -> None:
    """Show the migrations not applied yet."""
    from bindings import d1_migrations as m

    db, spec, config, host = open_binding("d1_databases", database, keys=_KEYS, state=state)
    todo = run(host, m.pending(db, m.migrations_dir(config, spec), m.migrations_table(spec)))
    if not todo:
        click.echo("No migrations to apply.")
    for path in todo:
        click.echo(path.name)


@migrations.command("apply")
@click.argument("database")
@state_options
def apply(database: str, **state) -> None:
    """Apply the pending migrations in order (each in its own transaction)."""
    from bindings import d1_migrations as m

    db, spec, config, host = open_binding("d1_databases", database, keys=_KEYS, state=state)
    work = m.apply(db, m.migrations_dir(config, spec), m.migrations_table(spec))
    done = run(host, work)
    if not done:
        click.echo("No migrations to apply.")
    for name in done:
        click.echo(f"applied {name}")
