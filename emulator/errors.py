"""The error every user-facing failure of edge derives from: a message plus a hint.

`EdgeError` is what a front end (the CLI, the dev server's reload loop, the test
harness) catches to show a problem to the user without a traceback: `str(error)` says
what is wrong (it names the file, key or URL involved), `error.hint` says what to do
about it, when there is something to say. Errors a worker is meant to catch (`AiError`,
`KvError`, ...) keep their own Cloudflare-shaped messages; they subclass this so the
CLI, which runs them outside a worker, reports every one the same way.
"""

from __future__ import annotations

from pathlib import Path


class EdgeError(Exception):
    """A problem to show the user as it is (no traceback). `hint` is the next step, if
    any; `exit_code` what the CLI exits with (2: the command line itself was wrong)."""

    hint: str | None = None
    exit_code: int = 1


def explain(error: BaseException) -> str:
    """An error as a front end shows it: its message, the notes edge added to it
    (`add_note`), then its hint."""
    lines = [str(error), *getattr(error, "__notes__", ())]
    hint = getattr(error, "hint", None)
    if hint:
        lines.append(f"hint: {hint}")
    return "\n".join(lines)


class ConfigError(EdgeError):
    """A configuration problem; the message names the file, the key and what was expected."""

    def __init__(self, file: Path | str, key: str | None, problem: str) -> None:
        self.file = Path(file)
        self.key = key
        self.problem = problem
        where = f"{self.file}" + (f": {key}" if key else "")
        super().__init__(f"{where}: {problem}")


class NotEmulatedError(EdgeError, NotImplementedError):
    """A Cloudflare runtime feature edge does not emulate; the message names it, and
    `docs/ffi.md` lists what is emulated."""

    hint = "see docs/ffi.md for what edge emulates of the Python Workers runtime"


class NotEmulatedName(NotEmulatedError, AttributeError):
    """A name (`js.WebSocketPair`) edge does not provide; an AttributeError, so `hasattr`
    and `getattr(obj, name, default)` keep working."""
