"""`edge ai`: run a catalogue model from the shell, and check which engine serves what.

    edge ai run @cf/meta/llama-2-7b-chat-fp16 --prompt "Tell me a joke"
    edge ai run @hf/thebloke/llama-2-13b-chat-awq --stream \\
        --messages-json '[{"role": "user", "content": "Hi"}]'
    edge ai status --ai-route '*=scripted:echo'

`run` goes through exactly what `env.AI.run` does (validation, templates, routing); it
prints the response text (`--json`: the whole result), or with `--stream` the SSE frames
as a worker would receive them. Routes come from `--ai-route`, `EDGE_AI_ROUTES` and the
`edge.toml` in `--root` (default: the current folder), as for `edge dev`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from bindings.ai.errors import AiError
from bindings.ai.routing import RouteError

log = logging.getLogger("edge.ai")


class _ConfigProblem(click.ClickException):
    exit_code = 2  # like a usage error: the routes given are wrong


@click.group()
def ai() -> None:
    """Workers AI from the command line: run models, check engines."""


def _common(func: Any) -> Any:
    func = click.option(
        "--ai-route",
        "ai_routes",
        multiple=True,
        metavar="MODEL=ENGINE[:ARGS]",
        help="Route a model (or '*') to an engine, e.g. '*=scripted:echo'. Repeatable.",
    )(func)
    func = click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default=True,
        help="Project folder whose edge.toml supplies routes and catalogue folders.",
    )(func)
    return func


@ai.command("run")
@click.argument("model")
@click.option("--prompt", help="The prompt (one user turn, or verbatim with --raw).")
@click.option("--system", help="A system message to put before --prompt.")
@click.option("--messages-json", help="Messages as a JSON array; '@FILE' reads a file, '-' stdin.")
@click.option("--input-json", help="Extra inputs as a JSON object (merged last).")
@click.option("--stream", is_flag=True, help="Print the SSE stream as it arrives.")
@click.option("--raw", is_flag=True, help="Send --prompt verbatim, without a chat template.")
@click.option("--max-tokens", type=int, help="Most tokens to generate (the schema's default: 256).")
@click.option("--temperature", type=float, help="Sampling temperature (the schema says 0-5).")
@click.option("--top-p", type=float, help="Nucleus sampling mass.")
@click.option("--top-k", type=int, help="Sample from the k most likely tokens.")
@click.option("--seed", type=int, help="Random seed, for reproducible sampling.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@_common
def run_command(
    model: str, ai_routes: tuple[str, ...], root: Path, as_json: bool, **fields: Any
) -> None:
    """Run MODEL once and print its answer."""
    inputs = _inputs(fields)
    _setup_logging()
    code = asyncio.run(_run(model, inputs, _options(ai_routes, root), as_json))
    sys.exit(code)


@ai.command("status")
@_common
def status_command(ai_routes: tuple[str, ...], root: Path) -> None:
    """Which engine serves each catalogue model, and whether it is healthy."""
    _setup_logging()
    sys.exit(asyncio.run(_status(_options(ai_routes, root))))


def _inputs(fields: dict[str, Any]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    prompt, system, messages = fields["prompt"], fields["system"], fields["messages_json"]
    if messages is not None:
        if prompt is not None:
            raise click.UsageError("give --prompt or --messages-json, not both")
        inputs["messages"] = _load_json(messages, "--messages-json")
        if system is not None:
            inputs["messages"] = [{"role": "system", "content": system}, *inputs["messages"]]
    elif prompt is not None:
        if system is not None:
            if fields["raw"]:
                raise click.UsageError("--system needs a chat template; it cannot go with --raw")
            inputs["messages"] = [
                {"role": "system", "content": system},
                {"role": "user", "content": prompt},
            ]
        else:
            inputs["prompt"] = prompt
    if fields["raw"]:
        inputs["raw"] = True
    if fields["stream"]:
        inputs["stream"] = True
    for key in ("max_tokens", "temperature", "top_p", "top_k", "seed"):
        if fields[key] is not None:
            inputs[key] = fields[key]
    if fields["input_json"] is not None:
        extra = _load_json(fields["input_json"], "--input-json")
        if not isinstance(extra, dict):
            raise click.BadParameter("expected a JSON object", param_hint="--input-json")
        inputs.update(extra)
    if "prompt" not in inputs and "messages" not in inputs:
        raise click.UsageError("give --prompt, --messages-json, or --input-json with either")
    return inputs


def _load_json(value: str, option: str) -> Any:
    try:
        if value == "-":
            text = sys.stdin.read()
        elif value.startswith("@"):
            text = Path(value[1:]).read_text(encoding="utf-8")
        else:
            text = value
        return json.loads(text)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {value[1:]}: {exc.strerror}", param_hint=option
        ) from None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=option) from None


def _options(ai_routes: tuple[str, ...], root: Path) -> Any:
    from emulator.config import ConfigError
    from emulator.local_settings import load_local_settings

    try:
        return load_local_settings(root, ai_routes=ai_routes).ai
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except RouteError as exc:
        raise _ConfigProblem(str(exc)) from None


def _service(settings: Any) -> Any:
    from bindings.ai.service import AiService

    try:
        return AiService.from_settings(settings)
    except RouteError as exc:
        raise _ConfigProblem(str(exc)) from None
    except ValueError as exc:  # a malformed catalogue entry names its file and field
        raise click.ClickException(str(exc)) from None


async def _run(model: str, inputs: dict[str, Any], settings: Any, as_json: bool) -> int:
    service = _service(settings)
    try:
        result = await service.run(model, inputs)
        if inputs.get("stream"):
            out = sys.stdout.buffer
            async for frame in result:
                out.write(frame)
                out.flush()
            return 1 if result.usage is None else 0
        if as_json:
            click.echo(json.dumps(result.to_py(), ensure_ascii=False, indent=2))
        else:
            click.echo(result.response)
            usage = result.usage
            click.echo(
                f"[{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens]",
                err=True,
            )
        return 0
    except AiError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except RouteError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    finally:
        await service.close()


async def _status(settings: Any) -> int:
    service = _service(settings)
    try:
        try:
            await service.startup()
        except RouteError as exc:
            click.echo(f"error: {exc}", err=True)
            return 2
        healthy = True
        lines = service.describe()
        for key, results in service.last_health.items():
            for result in results:
                mark = "ok  " if result.ok else "DOWN"
                healthy = healthy and result.ok
                where = f" [{result.url}]" if result.url else ""
                lines.append(f"{mark} {key}{where}: {result.detail}")
        for line in lines:
            click.echo(line)
        return 0 if healthy else 1
    finally:
        await service.close()


class _Stderr(logging.Handler):
    """Dev-log lines to whatever `sys.stderr` is now (click swaps it in tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:
            self.handleError(record)


def _setup_logging() -> None:
    logger = logging.getLogger("edge")
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr())
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
