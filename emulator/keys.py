"""Wrangler's hotkeys in an interactive terminal: [b] open a browser, [c] clear, [x] exit.

The terminal goes into cbreak mode (keys arrive without Enter, Ctrl-C still raises
SIGINT) while `edge dev` runs, and is restored on exit whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import webbrowser
from collections.abc import Callable
from typing import Any


class KeyListener:
    """Reads single keys from stdin on the event loop and acts on them."""

    def __init__(
        self, console: Any, *, url: str, on_exit: Callable[[], None], fd: int | None = None
    ) -> None:
        self.console = console
        self.url = url
        self.on_exit = on_exit
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._saved: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.actions: dict[str, Callable[[], None]] = {
            "b": self.open_browser,
            "c": self.clear,
            "x": self.on_exit,
            "q": self.on_exit,
        }

    def start(self) -> None:
        import termios
        import tty

        with contextlib.suppress(termios.error):
            self._saved = termios.tcgetattr(self.fd)
            # TCSANOW, not the default TCSAFLUSH: keys typed during start-up are kept
            tty.setcbreak(self.fd, termios.TCSANOW)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.fd, self._on_readable)

    def stop(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.fd)
            self._loop = None
        if self._saved is not None:
            import termios

            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, 32)
        except OSError:
            data = b""
        if not data:  # stdin closed: stop listening, keep serving
            self.stop()
            return
        for key in data.decode(errors="ignore").lower():
            self.press(key)

    def press(self, key: str) -> None:
        action = self.actions.get(key)
        if action is not None:
            action()

    def open_browser(self) -> None:
        # webbrowser may block while it launches a browser: keep it off the event loop
        threading.Thread(target=webbrowser.open, args=(self.url,), daemon=True).start()

    def clear(self) -> None:
        self.console.clear()
