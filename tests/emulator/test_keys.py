"""Hotkeys on a real pseudo-terminal: cbreak mode while listening, restored after."""

from __future__ import annotations

import asyncio
import os
import termios

from emulator.keys import KeyListener


class FakeConsole:
    def __init__(self) -> None:
        self.cleared = 0

    def clear(self) -> None:
        self.cleared += 1


async def test_keys_act_and_the_terminal_is_restored():
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        exited = asyncio.Event()
        console = FakeConsole()
        keys = KeyListener(console, url="http://127.0.0.1:1", on_exit=exited.set, fd=slave)
        opened = []
        keys.actions["b"] = lambda: opened.append(keys.url)  # no real browser in tests
        keys.start()
        assert not termios.tcgetattr(slave)[3] & termios.ICANON  # keys arrive without Enter

        os.write(master, b"cbz")
        for _ in range(200):  # bounded
            if console.cleared and opened:
                break
            await asyncio.sleep(0.01)
        assert console.cleared == 1 and opened == ["http://127.0.0.1:1"]
        assert not exited.is_set()

        os.write(master, b"x")
        await asyncio.wait_for(exited.wait(), timeout=5)
        keys.stop()
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
