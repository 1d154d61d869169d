"""The 500 page for an uncaught worker exception, like Wrangler's pretty error page.

Miniflare renders uncaught errors with Youch when the request accepts `text/html` and
falls back to the plain stack otherwise; we do the same with a Python traceback (every
frame with a few lines of source, the exception chain, the request method and URL), and
add a JSON form for API clients that ask for `application/json`.
"""

from __future__ import annotations

import asyncio
import json
import linecache
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

#: lines of source shown around the failing line of each frame.
CONTEXT_LINES = 3

#: the emulator's own package folder and asyncio's (tasks and futures carrying an
#: exception from the app to an in-process client): their frames lead into the worker's code.
_INTERNAL = (str(Path(__file__).resolve().parent) + "/", str(Path(asyncio.__file__).parent) + "/")


def trim_internal(exc: BaseException) -> BaseException:
    """Drop the leading emulator frames (server, worker loader, in-process driver) from
    `exc`'s traceback, so the page, the terminal and a test's traceback start at the
    worker's own code. Returns `exc`."""
    tb = exc.__traceback__
    while (
        tb is not None
        and tb.tb_next is not None
        and tb.tb_frame.f_code.co_filename.startswith(_INTERNAL)
    ):
        tb = tb.tb_next
    exc.__traceback__ = tb
    return exc


@dataclass
class Frame:
    filename: str
    lineno: int
    name: str
    line: str
    context: list[tuple[int, str]] = field(default_factory=list)  # (lineno, source)
    library: bool = False  # in site-packages or the stdlib, not the user's code


@dataclass
class ErrorInfo:
    type: str
    message: str
    frames: list[Frame]
    relation: str = ""  # how it leads to the next one: "cause" or "context"


def describe(exc: BaseException) -> list[ErrorInfo]:
    """The exception chain, outermost cause first (the order Python prints it)."""
    chain: list[ErrorInfo] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    relation = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(
            ErrorInfo(
                type=_qualname(type(current)),
                message=str(current),
                frames=_frames(current),
                relation=relation,
            )
        )
        if current.__cause__ is not None:
            current, relation = current.__cause__, "cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, relation = current.__context__, "context"
        else:
            current = None
    # outermost cause first; each entry's relation now links it to the one after it
    chain.reverse()
    return chain


def _qualname(cls: type) -> str:
    module = cls.__module__
    return (
        cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"
    )


def _frames(exc: BaseException) -> list[Frame]:
    frames = []
    for summary in traceback.extract_tb(exc.__traceback__):
        lineno = summary.lineno or 0
        context = []
        for n in range(max(1, lineno - CONTEXT_LINES), lineno + CONTEXT_LINES + 1):
            source = linecache.getline(summary.filename, n)
            if source:
                context.append((n, source.rstrip("\n")))
        frames.append(
            Frame(
                filename=summary.filename,
                lineno=lineno,
                name=summary.name,
                line=(summary.line or "").strip(),
                context=context,
                library=_is_library(summary.filename),
            )
        )
    return frames


def _is_library(filename: str) -> bool:
    return "site-packages" in filename or "/lib/python3" in filename or filename.startswith("<")


def plain_text(exc: BaseException, *, method: str, url: str) -> str:
    text = "".join(traceback.format_exception(exc))
    return f"{method} {url}\n\n{text}"


def as_json(exc: BaseException, *, method: str, url: str) -> dict[str, Any]:
    chain = describe(exc)
    last = chain[-1]
    return {
        "error": {"type": last.type, "message": last.message},
        "request": {"method": method, "url": url},
        "traceback": "".join(traceback.format_exception(exc)),
        "chain": [
            {
                "type": info.type,
                "message": info.message,
                "frames": [
                    {"file": f.filename, "line": f.lineno, "function": f.name, "code": f.line}
                    for f in info.frames
                ],
            }
            for info in chain
        ],
    }


@lru_cache(maxsize=1)
def _template() -> Any:
    # jinja2 is imported on the first error only: it is not needed to serve requests
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("error.html")


def html(exc: BaseException, *, method: str, url: str, headers: list[tuple[str, str]] = ()) -> str:
    chain = describe(exc)
    return _template().render(
        chain=chain,
        error=chain[-1],
        method=method,
        url=url,
        headers=list(headers),
        plain=plain_text(exc, method=method, url=url),
    )


def render(
    exc: BaseException,
    *,
    method: str,
    url: str,
    accept: str = "",
    headers: list[tuple[str, str]] = (),
) -> tuple[int, str, bytes]:
    """(status, content type, body) of the 500 response, chosen by the `Accept` header."""
    accept = accept.lower()
    if "text/html" in accept:
        body = html(exc, method=method, url=url, headers=headers)
        return 500, "text/html; charset=utf-8", body.encode()
    if "application/json" in accept:
        body = json.dumps(as_json(exc, method=method, url=url), indent=2)
        return 500, "application/json", body.encode()
    return 500, "text/plain; charset=utf-8", plain_text(exc, method=method, url=url).encode()
