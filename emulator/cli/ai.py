"""`edge ai`: run a catalogue model from the shell, and check which engine serves what.

    edge ai run @cf/meta/llama-2-7b-chat-fp16 --prompt "Tell me a joke"
    edge ai run @hf/thebloke/llama-2-13b-chat-awq --stream \\
        --messages-json '[{"role": "user", "content": "Hi"}]'
    edge ai status --ai-route '*=scripted:echo'

`run` goes through exactly what `env.AI.run` does (validation, templates, routing); it
takes the input flags of the model's task (`bindings.ai.tasks`: `--prompt`, ... for
text generation) plus `--input-json`, and prints what the task prints (the response
text; `--json`: the whole result), or with `--stream` the SSE frames as a worker would
receive them. Binary results (images, audio) go to `-o FILE`, or to a piped stdout,
never to a terminal. Routes come from `--ai-route`, `EDGE_AI_ROUTES` and the
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

log = logging.getLogger("edge.ai")


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


class _RunCommand(click.Command):
    """`edge ai run`: its input flags are every task's (`bindings.ai.tasks`), read from the
    task table when the command runs, so a new task module brings its flags along."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        return [*params[:1], *_task_params(), *params[1:]]


def _task_params() -> list[click.Parameter]:
    from bindings.ai.tasks import all_tasks

    flags: dict[str, Any] = {}
    for task in all_tasks():
        for flag in task.cli_flags:
            seen = flags.setdefault(flag.name, flag)
            if (seen.type, seen.is_flag, seen.kind) != (flag.type, flag.is_flag, flag.kind):
                raise RuntimeError(f"tasks disagree on what {flag.name} takes")
    params: list[click.Parameter] = []
    for flag in flags.values():
        if flag.is_flag:
            params.append(click.Option([flag.name, flag.dest], is_flag=True, default=None,
                                       help=flag.help))
        else:
            kind = click.Path(dir_okay=False, allow_dash=True) if flag.kind == "file" else flag.type
            params.append(click.Option([flag.name, flag.dest], type=kind, metavar=flag.metavar,
                                       help=flag.help))
    return params


@ai.command("run", cls=_RunCommand)
@click.argument("model")
@click.option("--input-json", help="Inputs as a JSON object (merged last); '@FILE' reads a file.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the result to this file (needed for images and audio on a terminal).",
)
@_common
def run_command(
    model: str,
    ai_routes: tuple[str, ...],
    root: Path,
    as_json: bool,
    output: Path | None,
    input_json: str | None,
    **given: Any,
) -> None:
    """Run MODEL once and print its answer (each task takes its own input flags)."""
    _setup_logging()
    service = _service(_options(ai_routes, root))
    task = _task(service, model)
    inputs = task.cli_adapt(service.catalogue.get(model), _inputs(task, model, given, input_json))
    sys.exit(asyncio.run(_run(service, task, model, inputs, as_json, output)))


@ai.command("status")
@_common
def status_command(ai_routes: tuple[str, ...], root: Path) -> None:
    """Which engine serves each catalogue model, and whether it is healthy."""
    _setup_logging()
    sys.exit(asyncio.run(_status(_options(ai_routes, root))))


def _task(service: Any, model: str) -> Any:
    from bindings.ai.tasks import task_of

    return task_of(service.catalogue.get(model))


def _inputs(task: Any, model: str, given: dict[str, Any], input_json: str | None) -> dict:
    from bindings.ai.tasks.base import CliInputError

    own = {flag.dest: flag for flag in task.cli_flags}
    stray = [name for name, value in given.items() if value is not None and name not in own]
    if stray:
        names = ", ".join("--" + name.replace("_", "-") for name in stray)
        accepted = ", ".join(flag.name for flag in task.cli_flags) or "none"
        raise click.UsageError(
            f"{names} do(es) not apply to {model}, a {task.name} model "
            f"(its flags: {accepted}; or --input-json)"
        )
    values = {}
    for name, value in given.items():
        if value is None:
            continue
        flag = own[name]
        if flag.kind == "json":
            value = _load_json(value, flag.name)
        elif flag.kind == "file":
            value = _read_file(value, flag.name)
        values[name] = value
    extra: dict[str, Any] = {}
    if input_json is not None:
        extra = _load_json(input_json, "--input-json")
        if not isinstance(extra, dict):
            raise click.BadParameter("expected a JSON object", param_hint="--input-json")
    try:
        return task.cli_inputs(values, extra)
    except CliInputError as exc:
        raise click.UsageError(str(exc)) from None


def _read_file(value: str, option: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if value == "-" else Path(value).read_bytes()
    except OSError as exc:
        problem = f"cannot read {value}: {exc.strerror}"
        raise click.BadParameter(problem, param_hint=option) from None


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
    from emulator.local_settings import load_local_settings

    return load_local_settings(root, ai_routes=ai_routes).ai


def _service(settings: Any) -> Any:
    from bindings.ai.service import AiService

    return AiService.from_settings(settings)


async def _run(
    service: Any,
    task: Any,
    model: str,
    inputs: dict[str, Any],
    as_json: bool,
    output: Path | None,
) -> int:
    from bindings.ai.binary import AiBinary
    from bindings.ai.streaming import AiStream
    from emulator.sdk.attrdict import unwrap

    sink = None
    try:
        result = await service.run(model, inputs)
        if not as_json and isinstance(result, dict):  # an image or audio as base64 JSON
            result = task.cli_binary(result) or result
        sink = output.open("wb") if output is not None else None
        out = sink or sys.stdout.buffer
        if isinstance(result, AiStream):
            async for frame in result:
                out.write(frame)
                out.flush()
            return 1 if result.usage is None else 0
        if isinstance(result, AiBinary):
            if sink is None and sys.stdout.isatty():
                click.echo(f"error: {model} answered {len(result)} bytes of "
                           f"{result.media_type}; give -o FILE to save them", err=True)
                return 1
            out.write(result.data)
            note = f"[{len(result)} bytes, {result.media_type}]"
            click.echo(note + (f" written to {output}" if sink else ""), err=True)
            return 0
        if as_json:
            text, note = json.dumps(unwrap(result), ensure_ascii=False, indent=2), None
        else:
            text, note = task.cli_output(result)
        if sink is None:
            click.echo(text)
        else:
            sink.write(text.encode() + b"\n")
        if note:
            click.echo(note, err=True)
        return 0
    finally:
        if sink is not None:
            sink.close()
        await service.close()


async def _status(settings: Any) -> int:
    service = _service(settings)
    try:
        await service.startup()
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


def _add_serving_commands() -> None:
    from emulator.cli.serve import ps_command, serve_command, stop_command

    for command in (serve_command, ps_command, stop_command):
        ai.add_command(command)


_add_serving_commands()
