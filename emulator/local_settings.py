"""Machine-local settings: `edge.toml` beside the wrangler file.

Wrangler never reads this file, so what only makes sense on one machine (which engine
and which URLs serve which model, where a GGUF file lives) stays out of `wrangler.toml`
and the worker stays deployable. Example::

    [ai]
    catalogue = ["./models"]          # extra catalogue folders

    [ai.routes."@cf/meta/llama-2-7b-chat-fp16"]
    engine = "llamacpp"
    gguf = "models/llama-2-7b-chat.Q4_K_M.gguf"   # relative to this file
    prompt_format = "llama2"

    [ai.routes."@hf/thebloke/llama-2-13b-chat-awq"]
    engine = "vllm"
    urls = ["http://gpu1:8000", "http://gpu2:8000"]
    served_model = "TheBloke/Llama-2-13B-chat-AWQ"
    options = { timeout = 60 }

Route tables carry the same fields as `bindings.ai.routing.Route` (and as `--ai-route`).
Everything is read, checked and turned into typed `LocalSettings` once, by
`load_local_settings`; `edge dev` re-reads the file when it changes (`reloaded()`), and a
broken edit raises, so the last good settings stay in force.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from bindings.ai.routing import (
    ENV_VAR,
    Route,
    RouteLayer,
    RouteTable,
    parse_routes,
    route_from_table,
)
from emulator.errors import ConfigError

log = logging.getLogger("edge.config")

FILENAME = "edge.toml"

#: route field -> (expected type, how to say it in an error).
ROUTE_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "engine": (str, "a string (llamacpp, vllm, tgi, scripted)"),
    "urls": ((list, str), "a URL or an array of URLs"),
    "served_model": (str, "a string"),
    "gguf": (str, "a path to a .gguf file"),
    "prompt_format": (str, "a string (llama2, chatml, gguf, none)"),
    "options": (dict, "a table"),
    # aliases `bindings.ai.routing.route_from_table` also accepts
    "url": (str, "a URL"),
    "model": (str, "a string (the backend's model name)"),
    "template": (str, "a string (llama2, chatml, gguf, none)"),
}

_KNOWN = {"ai": {"routes", "catalogue"}}


@dataclass(frozen=True)
class AiSettings:
    """Which engine serves which Workers AI model on this machine, by source in precedence
    order (`--ai-route` flags, `EDGE_AI_ROUTES`, `edge.toml`), and extra catalogue folders."""

    cli: tuple[Route, ...] = ()
    env: tuple[Route, ...] = ()
    file: tuple[Route, ...] = ()
    catalogue: tuple[Path, ...] = ()

    @classmethod
    def from_specs(
        cls, specs: Iterable[str] = (), *, environ: Mapping[str, str] | None = None
    ) -> AiSettings:
        """Routes from `--ai-route` specs and `EDGE_AI_ROUTES` in `environ` (default: the
        process environment; `{}` for none); `RouteError` quotes a malformed spec."""
        environ = os.environ if environ is None else environ
        return cls(
            cli=tuple(parse_routes(list(specs))),
            env=tuple(parse_routes(environ.get(ENV_VAR, ""))),
        )

    def route_table(self) -> RouteTable:
        """The routes to resolve models with (the embedded default last)."""
        return RouteTable(
            [
                RouteLayer("--ai-route", self.cli),
                RouteLayer(ENV_VAR, self.env),
                RouteLayer(FILENAME, self.file),
            ]
        )


@dataclass(frozen=True)
class LocalSettings:
    """Machine-local settings of one worker folder: `edge.toml` plus CLI flags and
    environment. `root` is the folder (None: no file is read)."""

    root: Path | None = None
    ai: AiSettings = field(default_factory=AiSettings)

    def reloaded(self) -> LocalSettings:
        """These settings with `edge.toml` read again (flags and environment kept);
        `ConfigError` when the file is now malformed."""
        if self.root is None:
            return self
        routes, catalogue = _read_file(self.root)
        return replace(self, ai=replace(self.ai, file=routes, catalogue=catalogue))


def load_local_settings(
    root: Path | None,
    *,
    ai_routes: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> LocalSettings:
    """The settings for the worker folder `root`: its `edge.toml` (none when `root` is
    None), `--ai-route` specs and `EDGE_AI_ROUTES` from `environ` (default: the process
    environment). Raises `ConfigError` naming the file and key when the file is
    malformed, `RouteError` quoting a malformed route spec."""
    ai = AiSettings.from_specs(ai_routes, environ=environ)
    settings = LocalSettings(root=Path(root).resolve() if root is not None else None, ai=ai)
    return settings.reloaded()


def _read_file(root: Path) -> tuple[tuple[Route, ...], tuple[Path, ...]]:
    file = root / FILENAME
    if not file.is_file():
        return (), ()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, None, f"invalid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, None, f"cannot read: {exc}") from exc
    for key in data:
        if key not in _KNOWN:
            log.warning("%s: unknown key %r; ignored", file, key)
    if "ai" not in data:
        return (), ()
    return _ai_section(data["ai"], file)


def _ai_section(ai: Any, file: Path) -> tuple[tuple[Route, ...], tuple[Path, ...]]:
    if not isinstance(ai, dict):
        raise ConfigError(file, "ai", f"expected a table, got {ai!r}")
    for key in ai:
        if key not in _KNOWN["ai"]:
            log.warning("%s: unknown key 'ai.%s'; ignored", file, key)
    folders = ai.get("catalogue", [])
    if isinstance(folders, str):
        folders = [folders]
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise ConfigError(file, "ai.catalogue", "expected a folder path or an array of them")
    catalogue = tuple((file.parent / f).resolve() for f in folders)
    tables = ai.get("routes", {})
    if not isinstance(tables, dict):
        raise ConfigError(file, "ai.routes", 'expected tables like [ai.routes."MODEL"]')
    routes = tuple(
        route_from_table(model, _route(table, file, f'ai.routes."{model}"'))
        for model, table in tables.items()
    )
    return routes, catalogue


def _route(table: Any, file: Path, key: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(file, key, f"expected a table, got {table!r}")
    if "engine" not in table:
        raise ConfigError(file, f"{key}.engine", "required: which engine serves this model")
    route = dict(table)
    for name, value in table.items():
        if name not in ROUTE_FIELDS:
            known = ", ".join(ROUTE_FIELDS)
            raise ConfigError(file, f"{key}.{name}", f"unknown field; expected one of: {known}")
        expected, what = ROUTE_FIELDS[name]
        if not isinstance(value, expected):
            raise ConfigError(file, f"{key}.{name}", f"expected {what}, got {value!r}")
    urls = table.get("urls", table.get("url"))
    if "url" in table and "urls" not in table:
        route["urls"] = [route.pop("url")]
    if isinstance(urls, str):
        route["urls"] = [urls]
    elif isinstance(urls, list):
        for i, url in enumerate(urls):
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ConfigError(file, f"{key}.urls[{i}]", f"expected an http(s) URL, got {url!r}")
    if isinstance(urls, str) and not urls.startswith(("http://", "https://")):
        raise ConfigError(file, f"{key}.urls", f"expected an http(s) URL, got {urls!r}")
    if "gguf" in table:
        route["gguf"] = str((file.parent / table["gguf"]).resolve())
    return route


# --- writing routes back (`edge ai serve` / `edge ai stop`) -------------------------------

#: the comment `write_route` puts above a route it writes.
WRITTEN_BY = "# written by `edge ai serve`; `edge ai stop MODEL` removes it"


def write_route(root: Path, model: str, table: dict[str, Any]) -> dict[str, Any] | None:
    """Set `[ai.routes."MODEL"]` in `root/edge.toml` to `table`; return the route it replaced.

    The rest of the file is kept as written (comments too) when the route is a table of
    its own or absent; otherwise the file is rewritten from its parsed content. A file
    that does not parse is left alone (`ConfigError`).
    """
    file, text, data = _load_for_edit(Path(root))
    routes = data.setdefault("ai", {}).setdefault("routes", {})
    if not isinstance(routes, dict):
        raise ConfigError(file, "ai.routes", 'expected tables like [ai.routes."MODEL"]')
    previous = routes.get(model)
    routes[model] = table
    block = WRITTEN_BY + "\n" + tomli_w.dumps({"ai": {"routes": {model: table}}})
    _save(file, _replace_block(text, ("ai", "routes", model), block), data)
    return previous


def remove_route(root: Path, model: str, *, urls: list[str] | None = None) -> bool:
    """Remove `[ai.routes."MODEL"]` from `root/edge.toml`; with `urls`, only if every URL
    of the route is one of them (a route the user has since changed stays). True if
    removed."""
    file = Path(root) / FILENAME
    if not file.is_file():
        return False
    file, text, data = _load_for_edit(Path(root))
    routes = (data.get("ai") or {}).get("routes")
    if not isinstance(routes, dict) or model not in routes:
        return False
    current = routes[model].get("urls", routes[model].get("url"))
    current = [current] if isinstance(current, str) else current
    if urls is not None and (not current or not set(current) <= set(urls)):
        return False
    del routes[model]
    _save(file, _replace_block(text, ("ai", "routes", model), ""), data)
    return True


def _load_for_edit(root: Path) -> tuple[Path, str, dict[str, Any]]:
    file = root / FILENAME
    text = file.read_text(encoding="utf-8") if file.is_file() else ""
    try:
        return file, text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, None, f"invalid TOML, left unchanged: {exc}") from exc


_HEADER = re.compile(r"^\s*\[(?!\[)(.+?)\]\s*(#.*)?$")


def _header_path(line: str) -> tuple[str, ...] | None:
    if not _HEADER.match(line):
        return None
    try:
        data = tomllib.loads(line.strip())
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(data, dict) and len(data) == 1:
        key = next(iter(data))
        path.append(key)
        data = data[key]
    return tuple(path)


def _replace_block(text: str, path: tuple[str, ...], block: str) -> str:
    """`text` with the table at `path` (and its sub-tables) replaced by `block`, or
    `block` appended when there is no such table."""
    lines = text.splitlines(keepends=True)
    start = end = None
    for i, line in enumerate(lines):
        header = _header_path(line)
        if header is None:
            continue
        if header[: len(path)] == path:
            start = i if start is None else start
        elif start is not None:
            end = i
            break
    if start is None:
        if not block:
            return text
        sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        return text + sep + block
    end = len(lines) if end is None else end
    while start > 0 and lines[start - 1].strip() == WRITTEN_BY:
        start -= 1
    tail = "".join(lines[end:])
    head = "".join(lines[:start])
    if block and tail:
        block += "\n"
    if not block and not tail:  # removed the last table: no trailing blank lines
        head = head.rstrip("\n") + "\n" if head.strip() else ""
    return head + block + tail


def _save(file: Path, text: str, data: dict[str, Any]) -> None:
    try:
        ok = tomllib.loads(text) == data
    except tomllib.TOMLDecodeError:
        ok = False
    if not ok:  # routes written some other way (inline, dotted keys): rewrite from the data
        text = tomli_w.dumps(data)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, file)
