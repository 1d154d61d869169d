"""Where a starting server is, read from its log: pulling, downloading, loading, ready.

`Phases(server).feed(line)` recognises the lines each server prints on its way up
(from their sources and published logs):

- vLLM: Hugging Face downloads (`model-00001-of-00003.safetensors:  45%|`), "Loading
  safetensors checkpoint shards:  67% Completed | 2/3", "Loading weights took", "Model
  loading took", "Memory profiling" / "# GPU blocks" / "Capturing CUDA graphs", "Starting
  vLLM API server", "Application startup complete".
- TGI (launcher, plain or `--json-output`): "Starting download process", "Download file",
  "Successfully downloaded weights", "Starting shard", "Shard ready in", "Warming up
  model", "Connected"; failures "Shard N failed to start", "Error: ...".
- TEI: "Starting download", "Downloading `model.safetensors`", "Model artifacts downloaded
  in", "Starting model backend", "Warming up model", "Ready".

`Display` shows one line per replica (a rich live table on a terminal, plain lines
when piped), updated as phases change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

#: phases in order; "ready" is what the log says, "healthy" what `/health` then confirms.
ORDER = ("starting", "downloading", "loading", "warming up", "ready", "healthy")

_PERCENT = re.compile(r"(\d{1,3})%")
_HF_DOWNLOAD = re.compile(r"\.(safetensors|bin|json|model)\S*:\s+\d{1,3}%\|")

#: server -> [(phase, pattern)], first match wins; "error" lines are remembered, not fatal.
PATTERNS: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    "vllm": [
        ("ready", re.compile(r"Starting vLLM API server|Uvicorn running on|"
                             r"Application startup complete")),
        ("warming up", re.compile(r"Memory profiling|# GPU blocks|KV cache|Capturing "
                                  r"(CUDA|cudagraph)|CUDA graphs|torch\.compile")),
        ("loading", re.compile(r"Loading (safetensors )?checkpoint shards|Loading weights|"
                               r"Starting to load model|Model loading took|Loading model")),
        ("downloading", re.compile(r"Downloading|Fetching \d+ files|Using model weights "
                                   r"format")),
        ("error", re.compile(r"Traceback|Error:|OutOfMemoryError|CUDA out of memory")),
    ],
    "tgi": [
        ("ready", re.compile(r"\bConnected\b")),
        ("warming up", re.compile(r"Warming up model|Setting max batch total tokens")),
        ("loading", re.compile(r"Starting shard|Waiting for shard|Shard ready in|"
                               r"Successfully downloaded weights")),
        ("downloading", re.compile(r"Starting (check and )?download|Download file|"
                                   r"Downloaded .* in")),
        ("error", re.compile(r"failed to start|Error:|ShardCannotStart|DownloadError")),
    ],
    "tei": [
        ("ready", re.compile(r"\bReady\b")),
        ("warming up", re.compile(r"Warming up model")),
        ("loading", re.compile(r"Starting model backend|Starting .* model on|"
                               r"Model artifacts downloaded in")),
        ("downloading", re.compile(r"Starting download|Downloading `")),
        ("error", re.compile(r"Error:|ERROR|Could not start")),
    ],
}


@dataclass
class Status:
    phase: str = "starting"
    detail: str = ""
    percent: int | None = None


class Phases:
    """The phase one server is in, advanced by its log lines (never backwards)."""

    def __init__(self, server: str) -> None:
        self.patterns = PATTERNS.get(server, [])
        self.status = Status()
        self.errors: list[str] = []

    def feed(self, line: str) -> bool:
        """Read one log line; True when the visible status changed."""
        text = _message(line).strip()
        if not text:
            return False
        if _HF_DOWNLOAD.search(text):
            return self._move("downloading", text, _percent(text))
        for phase, pattern in self.patterns:
            if pattern.search(text):
                if phase == "error":
                    self.errors.append(text)
                    return False
                percent = _percent(text) if phase in ("loading", "downloading") else None
                return self._move(phase, text, percent)
        return False

    def _move(self, phase: str, detail: str, percent: int | None) -> bool:
        current = self.status
        if ORDER.index(phase) < ORDER.index(current.phase):
            return False
        if percent is None and phase == current.phase:
            percent = current.percent  # "Loading weights took 3 s" after "100%"
        changed = (phase, percent) != (current.phase, current.percent)
        self.status = Status(phase, detail[:120], percent)
        return changed


def _message(line: str) -> str:
    """TGI's and TEI's `--json-output` put the text in `fields.message`."""
    if line.startswith("{"):
        try:
            data = json.loads(line)
        except ValueError:
            return line
        if isinstance(data, dict):
            fields = data.get("fields")
            if isinstance(fields, dict) and isinstance(fields.get("message"), str):
                return fields["message"]
    return line


def _percent(text: str) -> int | None:
    match = _PERCENT.search(text)
    return min(int(match.group(1)), 100) if match else None


class Display:
    """One status line per replica: a live table on a terminal, plain lines otherwise."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.rows: dict[str, tuple[str, Status]] = {}
        self.live: Live | None = None

    def __enter__(self) -> Display:
        if self.console.is_terminal:
            self.live = Live(self._table(), console=self.console, refresh_per_second=4,
                             transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self._table())
            self.live.__exit__(None, None, None)
            self.live = None

    def update(self, key: str, label: str, status: Status) -> None:
        previous = self.rows.get(key)
        self.rows[key] = (label, status)
        if self.live is not None:
            self.live.update(self._table())
        elif previous is None or (previous[1].phase, previous[1].percent) != (
                status.phase, status.percent):
            extra = f" {status.percent}%" if status.percent is not None else ""
            self.console.print(f"{label}: {status.phase}{extra}", highlight=False,
                               markup=False)

    def note(self, text: str) -> None:
        """A line printed above the table (pull output, warnings)."""
        self.console.print(text, highlight=False, markup=False)

    def _table(self) -> Table:
        table = Table(show_header=False, box=None, pad_edge=False)
        for label, status in self.rows.values():
            healthy = status.phase == "healthy"
            phase = Text(status.phase, style="bold green" if healthy else "bold")
            if status.percent is not None and status.phase in ("downloading", "loading"):
                filled = status.percent // 5
                phase.append(f" [{'#' * filled}{'.' * (20 - filled)}] {status.percent}%")
            table.add_row(Text("✓" if healthy else "…", style="green" if healthy else "cyan"),
                          Text(label), phase, Text(status.detail[:60], style="dim"))
        return table
