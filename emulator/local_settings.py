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
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

from emulator.config import ConfigError

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


def load_local_settings(root: Path) -> dict[str, Any]:
    """The parsed `edge.toml` in `root` (`{}` when there is none), with route `urls`
    normalised to lists and `gguf` / `catalogue` paths made absolute. Raises
    `ConfigError` naming the file and key when the file is malformed."""
    file = Path(root) / FILENAME
    if not file.is_file():
        return {}
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, None, f"invalid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, None, f"cannot read: {exc}") from exc
    for key in data:
        if key not in _KNOWN:
            log.warning("%s: unknown key %r; ignored", file, key)
    if "ai" in data:
        data["ai"] = _ai_section(data["ai"], file)
    return data


def _ai_section(ai: Any, file: Path) -> dict[str, Any]:
    if not isinstance(ai, dict):
        raise ConfigError(file, "ai", f"expected a table, got {ai!r}")
    for key in ai:
        if key not in _KNOWN["ai"]:
            log.warning("%s: unknown key 'ai.%s'; ignored", file, key)
    result = dict(ai)
    if "catalogue" in ai:
        folders = ai["catalogue"]
        if isinstance(folders, str):
            folders = [folders]
        if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
            raise ConfigError(file, "ai.catalogue", "expected a folder path or an array of them")
        result["catalogue"] = [str((file.parent / f).resolve()) for f in folders]
    routes = ai.get("routes", {})
    if not isinstance(routes, dict):
        raise ConfigError(file, "ai.routes", 'expected tables like [ai.routes."MODEL"]')
    result["routes"] = {
        model: _route(table, file, f'ai.routes."{model}"') for model, table in routes.items()
    }
    return result


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
