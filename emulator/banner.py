"""What `edge dev` prints: the start-up banner, one line per request, errors and reloads.

Modelled on Wrangler's output (`Your Worker has access to the following bindings`,
`[wrangler:info] GET / 200 OK (3ms)`, `Ready on http://localhost:8787`), rendered with
rich. The per-request line is on the hot path, so it is formatted with pre-rendered
ANSI styles and written straight to the console's file instead of through rich's
renderer (which costs tens of microseconds a line).
"""

from __future__ import annotations

import asyncio
import http
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.style import Style
from rich.table import Table

PREFIX = "[edge]"
#: the ready line's prefix is Wrangler's (`[wrangler:info] Ready on http://...`, as
#: `wrangler dev` and `pywrangler dev` print it), so scripts and harnesses that wait for
#: that line work unchanged with `edge dev`; the rest of the banner stays edge's own.
READY_PREFIX = "[wrangler:info]"


@dataclass
class BindingRow:
    """One row of the banner's bindings table."""

    name: str
    kind: str
    value: str = ""
    detail: list[str] = field(default_factory=list)


def make_console(**kwargs: Any) -> Console:
    console = Console(highlight=False, soft_wrap=True, **kwargs)
    if "width" not in kwargs and not console.is_terminal and "COLUMNS" not in os.environ:
        # a log file or pipe has no width: do not wrap the bindings table at 80 columns
        console.width = 160
    return console


def binding_rows(config: Any, bound: Iterable[tuple[Any, Any]] = ()) -> list[BindingRow]:
    """Rows for vars, secrets (values hidden, as Wrangler does) and named bindings; each
    kind gives its label, value and detail lines (`bindings.registry`). `bound` pairs
    specs with their built values (none when the worker failed to load)."""
    from bindings import registry

    rows = [
        BindingRow(name, "Environment Variable", _short(value))
        for name, value in config.vars.items()
    ]
    rows += [BindingRow(name, "Secret", "(hidden)") for name in config.secrets]
    values = {id(spec): value for spec, value in bound}
    for spec in config.bindings:
        if spec.name is None:
            continue
        kind = registry.get(spec.kind)
        if kind is None or not kind.emulated:
            label = kind.label if kind is not None else spec.kind
            rows.append(BindingRow(spec.name, label, "(not emulated yet)"))
            continue
        value = values.get(id(spec))
        rows.append(BindingRow(spec.name, kind.label, kind.value_label(spec), _detail(kind, value)))
    return rows


def _detail(kind: Any, value: Any) -> list[str]:
    if value is None or kind.describe is None:
        return []
    try:
        return [str(line) for line in kind.describe(value)]
    except Exception as exc:  # a banner must never stop the server
        return [f"describe() failed: {exc!r}"]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_banner(
    console: Console,
    *,
    name: str,
    url: str,
    rows: Iterable[BindingRow],
    side_apps: Iterable[tuple[str, str]] = (),
    env_name: str | None = None,
    keys_hint: bool = False,
    secrets_file: Any = None,
) -> None:
    """The start-up banner; ends with Wrangler's `[wrangler:info] Ready on <url>` line,
    which tools wait for.
    `side_apps` are (title, url) of the apps binding kinds serve beside the worker."""
    from emulator import __version__

    console.print(f"[bold]⛅ edge {__version__}[/] [dim]— local Cloudflare Python Workers[/]")
    console.print("─" * min(console.width, 80), style="dim")
    title = f"Worker [bold cyan]{escape(name)}[/]" + (
        f" (env [bold]{escape(env_name)}[/])" if env_name else ""
    )
    console.print(title)
    if secrets_file is not None:
        console.print(f"Using secrets defined in {escape(str(secrets_file))}")
    print_bindings(console, rows)
    for title, app_url in side_apps:
        console.print(f"{escape(title)} on [link={app_url}]{app_url}[/link]")
    if keys_hint:
        console.print(
            Panel.fit(
                escape("[b] open a browser   [c] clear console   [x] to exit"), border_style="dim"
            )
        )
    console.print(f"{escape(READY_PREFIX)} Ready on [link={url}]{url}[/link]")


def print_bindings(console: Console, rows: Iterable[BindingRow]) -> None:
    """Wrangler's "Your Worker has access to the following bindings" table."""
    rows = list(rows)
    if not rows:
        console.print("[dim]No bindings.[/]")
        return
    console.print("Your Worker has access to the following bindings:")
    table = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
    table.add_column("Binding")
    table.add_column("Resource")
    table.add_column("Value / detail")
    for row in rows:
        table.add_row(f"env.{escape(row.name)}", escape(row.kind), escape(row.value))
        for line in row.detail:
            table.add_row("", "", f"[dim]{escape(line)}[/]")
    console.print(table)


class RequestLog:
    """`GET /path 200 OK (1.2ms, cpu 0.3ms)` per request (wall time, then the handler's
    own CPU time: `emulator.cputime`); cheap enough for thousands a second."""

    def __init__(self, console: Console) -> None:
        self.file = console.file
        self.color = console.is_terminal and console.color_system is not None
        self._console = console
        self._flush_pending = False
        self._statuses: dict[int, str] = {}

    def _status(self, status: int) -> str:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        text = f"{status} {phrase}".rstrip()
        if self.color:
            color = "green" if status < 300 else "cyan" if status < 400 else "red"
            text = _ansi(self._console, text, "yellow" if 400 <= status < 500 else color)
        self._statuses[status] = text
        return text

    def __call__(
        self,
        method: str,
        path: str,
        status: int,
        ms: float,
        note: str = "",
        cpu_ms: float | None = None,
    ) -> None:
        label = self._statuses.get(status) or self._status(status)
        extra = f" [{note}]" if note else ""
        cpu = f", cpu {cpu_ms:.1f}ms" if cpu_ms is not None else ""
        self.file.write(f"{PREFIX} {method} {path} {label} ({ms:.1f}ms{cpu}){extra}\n")
        if not self._flush_pending:
            # one flush per event-loop turn, however many requests finished in it
            self._flush_pending = True
            try:
                asyncio.get_running_loop().call_soon(self._flush)
            except RuntimeError:
                self._flush()

    def _flush(self) -> None:
        self._flush_pending = False
        self.file.flush()


def _ansi(console: Console, text: str, style: str) -> str:
    return Style.parse(style).render(text, color_system=console.color_system)


def print_exception(console: Console, exc: BaseException, method: str, url: str) -> None:
    """An uncaught worker exception, with its traceback, in the terminal."""
    from rich.traceback import Traceback

    console.print(f"[bold red]✘ Uncaught exception[/] in {escape(method)} {escape(url)}")
    console.print(Traceback.from_exception(type(exc), exc, exc.__traceback__, max_frames=30))


def print_load_error(console: Console, exc: BaseException, *, kept: bool) -> None:
    """A reload that failed (syntax error, bad config); says whether the old worker still serves."""
    from rich.traceback import Traceback

    from emulator.errors import explain

    console.print(f"[bold red]✘ Reload failed:[/] {escape(explain(exc))}")
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause.__traceback__ is not None:
        console.print(
            Traceback.from_exception(type(cause), cause, cause.__traceback__, max_frames=10)
        )
    if kept:
        console.print(
            "[yellow]Still serving the last version that loaded.[/] Fix the error and save again."
        )


def print_reloaded(console: Console, changes: Iterable[str], ms: float) -> None:
    names = ", ".join(sorted(set(changes))) or "files"
    console.print(
        f"{escape(PREFIX)} [green]Reloaded[/] after changes to {escape(names)} ({ms:.0f}ms)"
    )


class ConsoleHandler(logging.Handler):
    """Log records as Wrangler prints them (`▲ [WARNING] ...`), through the rich console.
    (rich's own RichHandler would pull in pygments: a noticeable share of cold start.)"""

    MARKS: ClassVar[dict[int, str]] = {
        logging.WARNING: "[yellow]▲ \\[WARNING][/]",
        logging.ERROR: "[red]✘ \\[ERROR][/]",
    }

    def __init__(self, console: Any) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        from rich.markup import escape

        try:
            level = max((lvl for lvl in self.MARKS if lvl <= record.levelno), default=None)
            mark = self.MARKS[level] + " " if level is not None else ""
            self.console.print(mark + escape(record.getMessage()))
            if record.exc_info and record.exc_info[1] is not None:
                from rich.traceback import Traceback

                exc = record.exc_info[1]
                self.console.print(Traceback.from_exception(type(exc), exc, exc.__traceback__))
        except Exception:
            self.handleError(record)


def configure_logging(console: Any, level: str) -> None:
    levels = {
        "debug": logging.DEBUG,
        "info": logging.INFO,
        "log": logging.INFO,
        "warn": logging.WARNING,
        "error": logging.ERROR,
        "none": logging.CRITICAL + 1,
    }
    edge = logging.getLogger("edge")
    for handler in [h for h in edge.handlers if isinstance(h, ConsoleHandler)]:
        edge.removeHandler(handler)
    edge.addHandler(ConsoleHandler(console))
    edge.propagate = False
    edge.setLevel(levels.get(level, logging.INFO))
