"""A worker's Python packages: its `pyproject.toml` `dependencies`, checked at start-up.

`pywrangler` vendors those packages (Pyodide builds) into `python_modules/` for deploying
(https://developers.cloudflare.com/workers/languages/python/packages/); locally the
worker imports them from the Python environment edge runs in. `check(root)` compares each
requirement (markers evaluated with `packaging`, as pip does) with what
`importlib.metadata` finds installed here or in `python_modules/`; `summary()` is the one
line to show, with the exact command that installs what is missing into this
environment; `install()` runs it (`edge dev --install-deps`).

Cheap on purpose: nothing is read when the worker has no `pyproject.toml` (a `stat`),
and a check is one metadata lookup per requirement.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("edge.dependencies")

PYPROJECT = "pyproject.toml"
#: packages the Python Workers runtime provides, which edge emulates itself.
PROVIDED = frozenset({"workers-runtime-sdk", "workers-py", "pyodide-py", "webtypy"})


class DependencyError(ValueError):
    """`pyproject.toml` cannot be read, or lists a requirement that is not valid."""


@dataclass(frozen=True)
class Missing:
    """A requirement not met: `found` is the installed version (None: not installed)."""

    requirement: str
    found: str | None

    def __str__(self) -> str:
        state = "not installed" if self.found is None else f"{self.found} installed"
        return f"{self.requirement} ({state})"


def requirements(root: Path) -> list[str]:
    """The `[project] dependencies` of `root/pyproject.toml` ([] without the file)."""
    file = Path(root) / PYPROJECT
    if not file.is_file():
        return []
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DependencyError(f"{file}: {exc}") from exc
    deps = data.get("project", {}).get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise DependencyError(f"{file}: project.dependencies must be an array of strings")
    return deps


def check(root: Path) -> list[Missing]:
    """Each requirement of the worker at `root` that this environment does not meet."""
    deps = requirements(root)
    if not deps:
        return []
    from importlib import metadata  # only for a worker that lists dependencies: cold start

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    search = [*sys.path, str(Path(root) / "python_modules")]
    missing = []
    for text in deps:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise DependencyError(f"{Path(root) / PYPROJECT}: {text!r}: {exc}") from exc
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        if canonicalize_name(requirement.name) in PROVIDED:
            continue
        found = next(iter(metadata.distributions(name=requirement.name, path=search)), None)
        version = found.version if found is not None else None
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            missing.append(Missing(text, version))
    return missing


def install_command(missing: list[Missing]) -> list[str]:
    """The command that installs `missing` into the environment edge runs in."""
    return [sys.executable, "-m", "pip", "install", *(m.requirement for m in missing)]


def summary(missing: list[Missing]) -> str:
    """One line: what is missing and the command that installs it."""
    listed = ", ".join(str(m) for m in missing)
    return (
        f"worker dependencies not met: {listed}; install them with: "
        f"{shlex.join(install_command(missing))} (or run edge dev --install-deps)"
    )


def install(missing: list[Missing]) -> bool:
    """Run `install_command(missing)`; True when pip succeeded."""
    command = install_command(missing)
    log.info("installing worker dependencies: %s", shlex.join(command))
    return subprocess.run(command, check=False).returncode == 0
