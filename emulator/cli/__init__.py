"""The `edge` command line: a thin click layer over library functions.

Each command group lives in its own module (`dev`, `ai`, `models`); this module only
assembles them, importing lazily so `edge --help` stays fast.
"""

from __future__ import annotations

import importlib

import click

from emulator import __version__

#: command name -> "module:attribute" of the click command or group.
COMMANDS: dict[str, str] = {
    "dev": "emulator.cli.dev:dev",
    "ai": "emulator.cli.ai:ai",
    "models": "emulator.cli.models:models",
    "d1": "emulator.cli.d1:d1",
    "kv": "emulator.cli.kv:kv",
    "r2": "emulator.cli.r2:r2",
    "do": "emulator.cli.do:do",
}


class EdgeCliError(click.ClickException):
    """An `EdgeError` on its way out of a command: message, notes and hint, exit code."""

    def __init__(self, error: BaseException) -> None:
        from emulator.errors import explain

        super().__init__(explain(error))
        self.exit_code = getattr(error, "exit_code", 1)


class LazyGroup(click.Group):
    """Commands imported on first use; an `EdgeError` from any of them is shown as
    `Error: <message>` (plus its hint), without a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from emulator.errors import EdgeError

        try:
            return super().invoke(ctx)
        except EdgeError as exc:
            raise EdgeCliError(exc) from exc

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="edge")
def main() -> None:
    """edge: run Cloudflare Python Workers locally, with Workers AI on your own engines."""
