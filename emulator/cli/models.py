"""`edge models list`, `edge models show MODEL` and `edge models refresh --from DIR`: the
local Workers AI catalogue.

Thin: the catalogue (`bindings.ai.catalogue.load_catalogue`) answers; the parameter tree
is the one the catalogue pages render (`bindings.ai.rest.schema_view`). Extra catalogue
folders come from `--catalogue` and from `[ai] catalogue` in the `edge.toml` of PATH.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import click


def _catalogue(path: Path, extra: tuple[Path, ...]) -> Any:
    from bindings.ai.catalogue import load_catalogue
    from emulator.local_settings import load_local_settings

    root = path if path.is_dir() else path.parent
    configured = load_local_settings(root).ai.catalogue
    return load_catalogue([*configured, *extra])


def _entry(catalogue: Any, name: str) -> Any:
    from bindings.ai.errors import AiError

    try:
        return catalogue.get(name)
    except AiError as exc:
        close = difflib.get_close_matches(name, catalogue.names(), n=3, cutoff=0.4)
        exc.hint = f"did you mean {', '.join(close)}?" if close else "see `edge models list`"
        raise


_path_option = click.option(
    "--path",
    "path",
    type=click.Path(path_type=Path, exists=True),
    default=Path("."),
    show_default=True,
    help="Worker folder whose edge.toml may add catalogue folders.",
)
_catalogue_option = click.option(
    "--catalogue",
    "extra",
    multiple=True,
    type=click.Path(path_type=Path, exists=True),
    help="Extra folder (or file) of catalogue entries (repeatable).",
)


@click.group("models")
def models() -> None:
    """Browse the Workers AI model catalogue edge serves."""


@models.command("list")
@click.option("--search", help="Words in the name or description.")
@click.option("--task", help="Task name, e.g. 'Text Generation' (or text-generation).")
@click.option("--author", help="Author, e.g. meta or thebloke.")
@click.option("--source", type=int, help="Source id (1: Cloudflare's own, 2: partners').")
@click.option("--hide-experimental", is_flag=True, help="Leave experimental models out.")
@click.option("--json", "as_json", is_flag=True, help="Print the /ai/models/search records.")
@_path_option
@_catalogue_option
def list_models(
    search: str | None,
    task: str | None,
    author: str | None,
    source: int | None,
    hide_experimental: bool,
    as_json: bool,
    path: Path,
    extra: tuple[Path, ...],
) -> None:
    """List the models, filtered like GET /ai/models/search."""
    catalogue = _catalogue(path, extra)
    found = catalogue.matching(search=search, task=task, author=author, source=source,
                               hide_experimental=hide_experimental)
    if as_json:
        click.echo(json.dumps([entry.search_record() for entry in found], indent=2))
        return
    if not found:
        click.echo("No model matches.", err=True)
        raise SystemExit(1)
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("Model", no_wrap=True)
    table.add_column("Task", no_wrap=True)
    table.add_column("Author", no_wrap=True)
    table.add_column("Description", overflow="fold", ratio=1)
    for entry in found:
        beta = " [orange3](beta)[/]" if (entry.property("beta") or "").lower() == "true" else ""
        table.add_row(
            f"[bold]{entry.name}[/]{beta}", entry.task_name, entry.author, entry.description
        )
    Console().print(table)


@models.command("show")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print the entry as JSON.")
@click.option(
    "--schema",
    "as_schema",
    is_flag=True,
    help="Print the input and output JSON Schemas (as GET /ai/models/schema).",
)
@_path_option
@_catalogue_option
def show_model(
    model: str, as_json: bool, as_schema: bool, path: Path, extra: tuple[Path, ...]
) -> None:
    """Show one model: description, serving details and parameters."""
    if as_json and as_schema:
        raise click.UsageError("--json and --schema cannot be combined")
    entry = _entry(_catalogue(path, extra), model)
    if as_schema:
        click.echo(
            json.dumps({"input": entry.input_schema, "output": entry.output_schema}, indent=2)
        )
        return
    if as_json:
        record = entry.search_record()
        record["serving"] = _serving(entry)
        record["schema"] = {"input": entry.input_schema, "output": entry.output_schema}
        record["file"] = str(entry.path)
        click.echo(json.dumps(record, indent=2))
        return
    _print_entry(entry)


@models.command("refresh")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Cloudflare's published records: cloudflare-docs' src/content/workers-ai-models/.",
)
@click.option(
    "--verified",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Re-checked copies (<file>.json) and their LOG*.tsv, replacing the source's.",
)
@click.option(
    "--to",
    "dest",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write (default: the records shipped in this installation).",
)
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
def refresh_records(
    source: Path, verified: Path | None, dest: Path | None, dry_run: bool
) -> None:
    """Copy Cloudflare's published catalogue records in, verbatim (never at run time)."""
    from bindings.ai.catalogue import RECORDS_DIR, CatalogueError
    from bindings.ai.catalogue.refresh import refresh

    target = dest or RECORDS_DIR
    try:
        report = refresh(source, target, verified=verified, dry_run=dry_run)
    except CatalogueError as exc:
        raise click.ClickException(f"{exc} (nothing was written)") from exc
    verb = "would change" if dry_run else "refreshed"
    click.echo(f"{target}: {verb}: {report.summary()}")
    for label, names in (("added", report.added), ("updated", report.updated),
                         ("removed", report.removed)):
        for name in names:
            click.echo(f"  {label:8} {name}")


def _serving(entry: Any) -> dict[str, Any]:
    return entry.serving.as_dict()


def _print_entry(entry: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    from bindings.ai.rest import schema_view

    console = Console()
    beta = " [orange3](beta)[/]" if (entry.property("beta") or "").lower() == "true" else ""
    console.print(f"[bold]{escape(entry.name)}[/]{beta}")
    console.print(f"{escape(entry.task_name)} • {escape(entry.author)}", style="dim")
    console.print(escape(entry.description))
    console.print()
    rows = [("tags", ", ".join(entry.tags))]
    rows += [(p.get("property_id", ""), str(p.get("value", ""))) for p in entry.properties]
    serving = _serving(entry)
    for key in ("family", "hf_repo", "format", "quantization", "dtype", "prompt_format",
                "context_length", "dimensions"):
        if serving[key] is not None:
            rows.append((key, str(serving[key])))
    if serving["engines"]:
        rows.append(("engines", ", ".join(serving["engines"])))
    if serving["gpu_memory_gib"] is not None:
        rows.append(("gpu memory", f"~{serving['gpu_memory_gib']:g} GiB (estimate)"))
    for key in ("chat_template", "gguf"):
        if serving[key]:
            rows.append((key, f"{serving[key]['repo']} / {serving[key]['file']}"))
    rows.append(("file", str(entry.path)))
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        if value:
            console.print(f"  [dim]{key.ljust(width)}[/]  {escape(value)}")
    for title, schema in (("Input", entry.input_schema), ("Output", entry.output_schema)):
        tree = Tree(f"[bold]{title}[/]")
        for form in schema_view.top_level(schema):
            _add(tree, form)
        console.print()
        console.print(tree)


def _add(tree: Any, node: Any) -> None:
    from rich.markup import escape

    facts = "  ".join(f"{label} {value}" for label, value in node.facts)
    label = f"[bold]{escape(node.name)}[/] [magenta]{escape(node.type)}[/]"
    if node.required:
        label += " [red]required[/]"
    if facts:
        label += f"  [dim]{escape(facts)}[/]"
    if node.description:
        label += f"\n[dim]{escape(node.description)}[/]"
    branch = tree.add(label)
    for child in node.children:
        _add(branch, child)
