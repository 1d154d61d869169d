"""`edge dev` as a real subprocess for tests: `--port 0`, the `[wrangler:info] Ready on`
line says where.

Its combined output is collected by a reader thread, so a test can wait (bounded) for a
line and read the whole log after `stop()`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

#: the line `wrangler dev` prints when it serves, which `edge dev` prints too.
READY = re.compile(r"\[wrangler:info\] Ready on (http://\S+)")
EDGE = Path(sys.executable).with_name("edge")
COMMAND = (
    [str(EDGE)]
    if EDGE.exists()
    else [sys.executable, "-c", "from emulator.cli import main; main()"]
)


class EdgeDev:
    """One `edge dev` process; its combined output is collected by a reader thread."""

    def __init__(self, *args: str, cwd: Path | None = None, api: bool = False) -> None:
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "160", "EDGE_AI_ROUTES": ""}
        self.proc = subprocess.Popen(
            [*COMMAND, "dev", *args, "--port", "0", *([] if api else ["--no-api"])],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, pattern: str, *, after: int = 0, timeout: float = 30) -> re.Match:
        """Wait (bounded) until `pattern` appears in the output past `after` characters."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        with self._changed:
            while True:
                match = regex.search("".join(self.lines)[after:])
                if match:
                    return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"{pattern!r} never appeared in:\n{''.join(self.lines)}")
                self._changed.wait(min(remaining, 0.2))

    def start(self, timeout: float = 30) -> EdgeDev:
        self.url = self.wait_for(READY.pattern, timeout=timeout).group(1)
        return self

    def get(self, path: str = "/", **kwargs) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return httpx.post(self.url + path, timeout=10, **kwargs)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def poll(fn, until, attempts: int = 200, delay: float = 0.05):
    """Call `fn` until `until(result)` holds (bounded); returns the last result."""
    result = fn()
    for _ in range(attempts):
        if until(result):
            return result
        time.sleep(delay)
        result = fn()
    return result
