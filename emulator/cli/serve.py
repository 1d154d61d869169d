"""`edge ai serve`, `edge ai ps`, `edge ai stop`: GPU servers for catalogue models.

    edge ai serve @hf/thebloke/llama-2-13b-chat-awq            # vLLM in Docker, routed
    edge ai serve @cf/meta/llama-2-7b-chat-fp16 --engine tgi --gpus 0,1 --tensor-parallel 2
    edge ai serve MODEL --replicas 2 --dry-run                 # print the exact commands
    edge ai serve MODEL --emit compose -o compose.yaml         # or --emit k8s
    edge ai ps
    edge ai stop [MODEL]

A thin layer over `bindings.ai.serve`; routes go to `edge.toml` in `--root`.
"""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path
from typing import Any

import click

SERVERS = ("vllm", "tgi", "tei")
RUNTIMES = ("docker", "podman", "native")


def _root_option(func: Any) -> Any:
    return click.option(
        "--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
        show_default=True, help="Project folder whose edge.toml gets (or loses) the routes.",
    )(func)


@click.command("serve")
@click.argument("models", nargs=-1)
@click.option("--engine", "server", type=click.Choice(SERVERS),
              help="Server to run (default: the first the model's serving data lists).")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="docker", show_default=True)
@click.option("--gpus", help="GPUs to use: all, a count, or indexes (0,1 / device=0,1). "
              "Default: every visible GPU not held by edge's other servers.")
@click.option("--tensor-parallel", type=click.IntRange(min=1), default=1, show_default=True,
              help="GPUs per replica (vLLM --tensor-parallel-size, TGI --num-shard).")
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True,
              help="Servers per model, each on its own GPUs and port; the route lists all.")
@click.option("--port", type=click.IntRange(1, 65535),
              help="First host port (default: the server's usual one, or the next free).")
@click.option("--ip", "host", default="127.0.0.1", show_default=True,
              help="Address the servers' ports are published on.")
@click.option("--hf-token-env", metavar="NAME",
              help="Variable holding your Hugging Face token (default: HF_TOKEN). The "
              "value is passed by name, never printed or written.")
@click.option("--api-key-env", metavar="NAME",
              help="Variable holding an API key the servers will require (and edge sends).")
@click.option("--gpu-memory-utilization", type=click.FloatRange(0, 1, min_open=True),
              help="Fraction of each GPU's memory the server may use.")
@click.option("--engine-arg", "extra_args", multiple=True, metavar="ARG",
              help="Extra flag passed to the server as is (repeatable), e.g. "
              "--engine-arg=--enable-prefix-caching.")
@click.option("--timeout", type=click.FloatRange(min=1), default=1800.0, show_default=True,
              help="Seconds to wait for the servers to be healthy.")
@click.option("--dry-run", is_flag=True, help="Print the exact commands; start nothing.")
@click.option("--emit", type=click.Choice(("compose", "k8s")),
              help="Write a compose file or Kubernetes manifests instead of starting.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where --emit writes (default: edge-ai.compose.yaml / edge-ai.k8s.yaml "
              "in --root; '-' for stdout).")
@click.option("--force", is_flag=True, help="Let --emit overwrite a file edge did not write.")
@_root_option
def serve_command(models: tuple[str, ...], root: Path, runtime: str, dry_run: bool,
                  emit: str | None, output: Path | None, force: bool, timeout: float,
                  **knobs: Any) -> None:
    """Start GPU servers for MODELS from their catalogue serving data, and route them."""
    from bindings.ai.serve.plan import ServeOptions

    knobs["extra_args"] = tuple(knobs["extra_args"])
    options = ServeOptions(native=runtime == "native", **knobs)
    catalogue, ai = _catalogue(root)
    if emit:
        _emit(catalogue, ai, models, options, root, emit, output, force)
    elif not models:
        raise click.UsageError("name at least one catalogue model to serve")
    elif dry_run:
        _dry_run(catalogue, list(models), options, runtime, root)
    else:
        sys.exit(_serve(catalogue, list(models), options, runtime, root, timeout))


def _catalogue(root: Path) -> tuple[Any, Any]:
    from bindings.ai.catalogue import load_catalogue
    from emulator.local_settings import load_local_settings

    ai = load_local_settings(root, environ={}).ai  # edge.toml only: it gets the routes
    return load_catalogue(ai.catalogue), ai


def _routed(ai: Any, options: Any) -> list[tuple[str, Any]]:
    """The models edge.toml routes to vllm, tgi or tei, each with options that keep the
    route's server, replica count and first port."""
    import dataclasses

    import httpx

    out = []
    for route in ai.file:
        if route.engine not in SERVERS or route.model == "*":
            continue
        port = httpx.URL(route.urls[0]).port if route.urls else None
        out.append((route.model, dataclasses.replace(
            options, server=options.server or route.engine,
            replicas=options.replicas if options.replicas > 1 else max(1, len(route.urls)),
            port=options.port or port)))
    return out


def _probe_or_none(notes: list[str]) -> Any:
    from bindings.ai.serve import ServeError
    from bindings.ai.serve.gpus import probe

    try:
        return probe()
    except ServeError as exc:
        notes.append(f"{exc}; GPUs are taken as --gpus writes them")
        return None


def _dry_run(catalogue: Any, models: list[str], options: Any, runtime_name: str,
             root: Path) -> None:
    import tomli_w

    from bindings.ai.serve.plan import plan_models
    from bindings.ai.serve.runtime import get_runtime

    notes: list[str] = []
    runtime = get_runtime(runtime_name)
    plans = plan_models(catalogue, models, options, root=root, gpus=_probe_or_none(notes))
    notes += [f"{p.spec.model}: edge could not route to it yet: {why}" for p in plans
              if (why := p.unroutable())]
    for note in notes + [n for p in plans for n in p.notes]:
        click.echo(f"# note: {note}")
    for image in dict.fromkeys(r.image for p in plans for r in p.replicas):
        for command in runtime.prepare_commands(image):
            click.echo(command.shell())
    for plan in plans:
        for replica in plan.replicas:
            gpus = ",".join(str(g.index) for g in replica.gpus) or "all"
            click.echo(f"# {plan.spec.model}: {plan.server.name} replica {replica.index}, "
                       f"GPUs {gpus}, {replica.url}")
            click.echo(runtime.command(replica, plan.secrets).shell())
    click.echo(f"# then, once healthy, {Path(root) / 'edge.toml'} gets:")
    for plan in plans:
        block = tomli_w.dumps({"ai": {"routes": {plan.spec.model: plan.route()}}})
        click.echo("\n".join(f"#   {line}" if line else "#" for line in block.splitlines()))


def _serve(catalogue: Any, models: list[str], options: Any, runtime_name: str, root: Path,
           timeout: float) -> int:
    from bindings.ai.serve.launch import serve_models
    from bindings.ai.serve.progress import Display
    from bindings.ai.serve.runtime import get_runtime
    from emulator.local_settings import write_route

    runtime = get_runtime(runtime_name)
    try:
        with Display() as display:
            outcome = serve_models(catalogue, models, options, runtime, display, root=root,
                                   timeout=timeout, write_route=write_route)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: what started keeps running (edge ai ps; edge ai stop "
                   f"{' '.join(models)})", err=True)
        return 130
    for model, table in outcome.routes.items():
        click.echo(f"{model} -> {table['engine']} {', '.join(table['urls'])} "
                   f"(routed in {Path(root) / 'edge.toml'})")
        previous = outcome.replaced.get(model)
        if previous:
            click.echo(f"  replaced the route it had: {previous}")
    for error in outcome.errors:
        click.echo(f"error: {error}", err=True)
    return 1 if outcome.errors else 0


def _emit(catalogue: Any, ai: Any, models: tuple[str, ...], options: Any,
          root: Path, kind: str, output: Path | None, force: bool) -> None:
    from bindings.ai.serve import emit
    from bindings.ai.serve.plan import plan_models

    wanted = [(model, options) for model in models] or _routed(ai, options)
    if not wanted:
        raise click.UsageError("name models to emit, or route some to vllm, tgi or tei in "
                               f"{Path(root) / 'edge.toml'}")
    if models:
        plans = plan_models(catalogue, list(models), options, root=root, gpus=None,
                            is_free=lambda host, port: True, emit=True)
    else:
        plans = [plan for model, each in wanted for plan in plan_models(
            catalogue, [model], each, root=root, gpus=None, is_free=lambda h, p: True,
            emit=True)]
    text = emit.compose(plans) if kind == "compose" else emit.kubernetes(plans)
    if output is not None and str(output) == "-":
        click.echo(text, nl=False)
        return
    target = output or Path(root) / f"edge-ai.{kind}.yaml"
    if target.exists() and not force and not target.read_text(
            encoding="utf-8", errors="replace").startswith(emit.MARKER):
        raise click.ClickException(f"{target} exists and was not written by edge; "
                                   "pass --force to replace it, or -o another file")
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target} ({len(plans)} model(s))")


def _runtimes(name: str | None) -> list[Any]:
    from bindings.ai.serve.runtime import get_runtime

    if name:
        return [get_runtime(name)]
    return [get_runtime(n) for n in RUNTIMES if n == "native" or shutil.which(n)]


_PROJECT = click.option(
    "--root", type=click.Path(file_okay=False, path_type=Path),
    help="Only the servers started for this project folder (default: every project).")


@click.command("ps")
@click.option("--runtime", type=click.Choice(RUNTIMES),
              help="Only this runtime (default: docker, podman and native, where present).")
@_PROJECT
def ps_command(runtime: str | None, root: Path | None) -> None:
    """The servers edge started: state, health, and the route to them."""
    from rich.console import Console
    from rich.table import Table

    from bindings.ai.serve import ServeError
    from bindings.ai.serve.manage import list_served

    rows, problems, seen = [], [], set()
    for rt in _runtimes(runtime):
        try:
            found = list_served(rt, root=root, routes_of=_routes_of)
        except ServeError as exc:
            problems.append(str(exc))
            continue
        # podman's docker shim answers both: one row per container
        rows += [row for row in found if row.served.handle not in seen]
        seen.update(row.served.handle for row in found)
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    if not rows:
        click.echo("no servers started by edge (edge ai serve MODEL starts one)")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("MODEL", "SERVER", "NAME", "STATE", "URL", "HEALTH", "ROUTE"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        s = row.served
        table.add_row(s.model, f"{s.server} ({s.runtime})", s.name, s.describe_state(),
                      s.url, row.health, row.route)
    out = io.StringIO()
    Console(file=out, width=1000, highlight=False).print(table)  # rows never wrap
    click.echo("\n".join(line.rstrip() for line in out.getvalue().splitlines()))


def _routes_of(root: Path) -> dict[str, Any]:
    from emulator.config import ConfigError
    from emulator.local_settings import load_local_settings

    try:
        routes = load_local_settings(root, environ={}).ai.file
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return {r.model: {"engine": r.engine, "urls": list(r.urls)} for r in routes}


@click.command("stop")
@click.argument("model", required=False)
@click.option("--runtime", type=click.Choice(RUNTIMES),
              help="Only this runtime (default: docker, podman and native, where present).")
@_PROJECT
def stop_command(model: str | None, runtime: str | None, root: Path | None) -> None:
    """Stop and remove edge's servers (of MODEL, or all) and the routes edge wrote."""
    from bindings.ai.serve.manage import stop_served
    from emulator.local_settings import remove_route

    stopped = []
    for rt in _runtimes(runtime):
        stopped += stop_served(rt, model, root=root, remove_route=remove_route)
    if not stopped:
        click.echo(f"nothing to stop: edge started no server for {model or 'any model'}")
        sys.exit(1 if model else 0)
    for item in stopped:
        click.echo(f"stopped {', '.join(item.names)} ({item.model})")
        if item.route_removed:
            click.echo(f"  removed its route from {Path(item.root) / 'edge.toml'}")
        elif item.root:
            click.echo(f"  left {Path(item.root) / 'edge.toml'} alone: it does not route "
                       "the model to these servers")
