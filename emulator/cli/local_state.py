"""What `edge d1`, `edge kv` and `edge r2` share: the flags that locate a worker's local
state, and opening one of its bindings there (the same files `edge dev` uses)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

T = TypeVar("T")


def state_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--config --env --persist-to --cwd --local` (and a refused `--remote`)."""
    options = [
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
        click.option("--cwd", type=click.Path(path_type=Path), help="Worker folder."),
        click.option("--local", is_flag=True, help="Accepted for Wrangler parity (default)."),
        click.option("--remote", is_flag=True, hidden=True),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def open_binding(
    kind: str, wanted: str, *, keys: tuple[str, ...], state: dict[str, Any]
) -> tuple[Any, Any, Any, Any]:
    """The binding object of `kind` whose name (or one of `keys`' values) is `wanted`, its
    spec, the worker config and the `BindingHost` (close it when done). `state` holds
    the `state_options` values."""
    from bindings.contract import BindingHost
    from bindings.registry import build_binding
    from emulator.config import load_config
    from emulator.loader import state_dir

    if state.get("remote"):
        raise click.UsageError("edge is local only: --remote is not supported")
    config = load_config(state.get("cwd"), config_file=state.get("config_file"),
                         env=state.get("env"))  # fmt: skip
    specs = [s for s in config.bindings if s.kind == kind]
    for spec in specs:
        if wanted == spec.name or wanted in (spec.options.get(k) for k in keys):
            break
    else:

        def label(s: Any) -> str:
            extra = [str(s.options[k]) for k in keys if k in s.options]
            return s.name + (f" ({', '.join(extra)})" if extra else "")

        known = ", ".join(label(s) for s in specs) or "none"
        raise click.ClickException(
            f"no {kind} binding {wanted!r} in {config.file}; defined: {known}"
        )
    host = BindingHost(state_dir=state_dir(config, state.get("persist_to")))
    return build_binding(spec, host), spec, config, host


def run(host: Any, work: Awaitable[T]) -> T:
    """Run `work`, then close the host. The binding's own errors (`KvError`, ...) are
    `EdgeError`s: the `edge` command shows them with their notes."""

    async def go() -> T:
        try:
            return await work
        finally:
            await host.close()

    return asyncio.run(go())
