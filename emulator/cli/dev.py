"""`edge dev`: the flags of `wrangler dev` that make sense locally, plus the AI routing ones.

Thin: parses flags into `DevOptions` and hands over to `emulator.dev.run`.
"""

from __future__ import annotations

from pathlib import Path

import click


def _var_overrides(items: tuple[str, ...]) -> dict[str, str]:
    from emulator.config import ConfigError, parse_var_overrides

    try:
        return parse_var_overrides(list(items))
    except ConfigError as exc:
        message = f"{exc.key}: {exc.problem}" if exc.key else exc.problem
        raise click.BadParameter(message, param_hint="--var") from exc
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--var") from exc


@click.command("dev")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="wrangler.toml / wrangler.json(c) to use (default: found in PATH).",
)
@click.option(
    "-e", "--env", help="Use the [env.<name>] section of the config and .dev.vars.<name>."
)
@click.option("--ip", help="Address to listen on (default: [dev] ip, else 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port to listen on (default: [dev] port, else 8787; 0 picks a free one).",
)
@click.option(
    "--var", "vars_", multiple=True, metavar="KEY:VALUE", help="Override or add a var (repeatable)."
)
@click.option(
    "--persist-to",
    type=click.Path(path_type=Path),
    help="Folder for local binding state (default: <root>/.wrangler/state).",
)
@click.option(
    "--test-scheduled",
    is_flag=True,
    help="Expose /__scheduled?cron=... and /cdn-cgi/handler/scheduled (run the cron handler).",
)
@click.option(
    "--ai-route",
    "ai_routes",
    multiple=True,
    metavar="MODEL=ENGINE[:ARG,...]",
    help="Route a Workers AI model to an engine, e.g. '*=scripted:echo' (repeatable; "
    "also EDGE_AI_ROUTES, ';'-separated).",
)
@click.option(
    "--api-port",
    type=click.IntRange(0, 65535),
    help="Port of the local Workers AI REST API (default: the worker's port + 1).",
)
@click.option("--no-api", is_flag=True, help="Do not serve the Workers AI REST API.")
@click.option(
    "--api-token",
    envvar="EDGE_API_TOKEN",
    metavar="TOKEN",
    help="Require 'Authorization: Bearer TOKEN' on the REST API (also EDGE_API_TOKEN). "
    "Without one the API listens on loopback only, whatever --ip says.",
)
@click.option(
    "--max-body-size",
    envvar="EDGE_MAX_BODY_SIZE",
    default="100MB",
    show_default=True,
    metavar="SIZE|PLAN",
    help="Request body limit of the worker's port, answered 413 as Cloudflare does: "
    "a size (200MB) or your zone's plan (free, pro: 100MB; business: 200MB; "
    "enterprise: 500MB); 0 for none. Also EDGE_MAX_BODY_SIZE.",
)
@click.option("--no-reload", is_flag=True, help="Do not watch files for changes.")
@click.option(
    "--install-deps",
    is_flag=True,
    help="pip-install the worker's pyproject.toml dependencies that are missing here.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "log", "warn", "error", "none"]),
    default="info",
    show_default=True,
    help="As in wrangler; below 'log' hides request lines.",
)
def dev(
    path: Path | None,
    config_file: Path | None,
    env: str | None,
    ip: str | None,
    port: int | None,
    vars_: tuple[str, ...],
    persist_to: Path | None,
    test_scheduled: bool,
    ai_routes: tuple[str, ...],
    api_port: int | None,
    no_api: bool,
    api_token: str | None,
    max_body_size: str,
    no_reload: bool,
    install_deps: bool,
    log_level: str,
) -> None:
    """Serve the worker in PATH (default: the current folder) with hot reload."""
    from emulator.dev import DevOptions, run
    from emulator.http_limits import parse_size

    try:
        max_body_bytes = parse_size(max_body_size)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-body-size") from exc

    options = DevOptions(
        path=path,
        config_file=config_file,
        env=env,
        ip=ip,
        port=port,
        vars=_var_overrides(vars_),
        persist_to=persist_to,
        test_scheduled=test_scheduled,
        ai_routes=list(ai_routes),
        api_port=api_port,
        api=not no_api,
        api_token=api_token or None,
        reload=not no_reload,
        install_deps=install_deps,
        log_level=log_level,
        max_body_bytes=max_body_bytes,
    )
    raise SystemExit(run(options))
