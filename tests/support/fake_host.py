"""A GPU host for tests: fake `docker`, `podman`, `nvidia-smi` and native servers on PATH.

`FakeHost(tmp_path, monkeypatch)` writes small wrapper scripts into `tmp_path/bin`
(each runs one of `tests/fakes/fake_*.py` with this interpreter), puts that folder
first on PATH, and points the fakes at a state folder. `calls()` reads back every
recorded invocation; `close()` kills whatever "containers" are still running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import sys
from pathlib import Path

FAKES = Path(__file__).resolve().parents[1] / "fakes"
A100 = "NVIDIA A100-SXM4-80GB:81920:8.0"
L4 = "NVIDIA L4:23034:8.9"

#: wrapper name -> (fake script, extra environment)
TOOLS: dict[str, tuple[str, dict[str, str]]] = {
    "docker": ("fake_docker.py", {"FAKE_DOCKER_CLI": "docker"}),
    "podman": ("fake_docker.py", {"FAKE_DOCKER_CLI": "podman"}),
    "nvidia-smi": ("fake_nvidia_smi.py", {}),
    "vllm": ("fake_container.py", {"FAKE_ENGINE": "vllm"}),
    "text-generation-launcher": ("fake_container.py", {"FAKE_ENGINE": "tgi"}),
    "text-embeddings-router": ("fake_container.py", {"FAKE_ENGINE": "tei"}),
}


class FakeHost:
    def __init__(self, tmp_path: Path, monkeypatch, *, tools=tuple(TOOLS),
                 gpus: str = f"{A100};{A100}") -> None:
        self.state = tmp_path / "fake-docker"
        self.bin = tmp_path / "bin"
        self.bin.mkdir(exist_ok=True)
        self.home = tmp_path / "home"
        for name in tools:
            self.install(name)
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{_path_without_tools()}")
        monkeypatch.setenv("FAKE_DOCKER_STATE", str(self.state))
        monkeypatch.setenv("FAKE_GPUS", gpus)
        monkeypatch.setenv("HF_HOME", str(self.home / "hf"))
        monkeypatch.delenv("HF_HUB_CACHE", raising=False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.delenv("EDGE_AI_ROUTES", raising=False)

    def install(self, name: str) -> None:
        script, env = TOOLS[name]
        exports = "".join(f"export {k}={v}\n" for k, v in env.items())
        wrapper = self.bin / name
        wrapper.write_text(f"#!/bin/sh\n{exports}exec {sys.executable} {FAKES / script} \"$@\"\n")
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)

    def remove(self, name: str) -> None:
        (self.bin / name).unlink()

    def set(self, **env: str) -> None:
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)

    def calls(self, cli: str | None = None) -> list[dict]:
        file = self.state / "calls.jsonl"
        if not file.exists():
            return []
        calls = [json.loads(line) for line in file.read_text().splitlines()]
        return [c for c in calls if cli is None or c["cli"] == cli]

    def runs(self) -> list[dict]:
        """The recorded `docker|podman run` calls."""
        return [c for c in self.calls() if c["argv"][:1] == ["run"]]

    def containers(self) -> list[dict]:
        return [json.loads(f.read_text()) for f in sorted(self.state.glob("c-*.json"))]

    def pids(self) -> list[int]:
        """The pids of this host's containers that still run (a pid of one that exited
        may already belong to another test's process: never signal that one)."""
        from tests.fakes.fake_docker import owner

        return [c["Pid"] for c in self.containers() if owner(c["Pid"]) == c["Id"]]

    def close(self) -> None:
        """Kill this test's "containers" and the native servers started for a project
        under its folder (other tests' native servers, in parallel workers, are theirs)."""
        for pid in self.pids() + native_pids(self.bin.parent):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def native_pids(under: Path) -> list[int]:
    """Native servers edge started for a project folder inside `under`."""
    from bindings.ai.serve.runtime import get_runtime

    return [int(s.handle) for s in get_runtime("native").find()
            if s.label("root").startswith(str(Path(under).resolve()))]


def _path_without_tools() -> str:
    """PATH minus folders holding a real docker/podman/nvidia-smi (tests decide those)."""
    keep = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not any((Path(folder) / tool).exists() for tool in TOOLS):
            keep.append(folder)
    return os.pathsep.join(keep)


#: catalogue entries for tests (a user's folder): an embeddings model (served by TEI),
#: a model without serving data, and one too big for a single GPU.
USER_ENTRIES = {
    "embed-small.md": '''---
model:
  name: "@cf/test/embed-small"
  description: "A small embeddings model"
  task: {name: "Text Embeddings"}
json_schema:
  input: {type: object, properties: {text: {type: string}}, required: [text]}
---

```yaml edge-serving
size_b: 0.033
format: pytorch
quantization: fp16
context_length: 512
hf_repos: {pytorch: BAAI/bge-small-en-v1.5}
```
''',
    "no-serving.md": '''---
model:
  name: "@cf/test/no-serving"
  description: "A model nobody said how to serve"
  task: {name: "Text Generation"}
json_schema:
  input: {type: object, properties: {prompt: {type: string}}, required: [prompt]}
---
''',
    "huge.md": '''---
model:
  name: "@cf/test/llama-2-70b-fp16"
  description: "Llama 2 70B in fp16"
  task: {name: "Text Generation"}
json_schema:
  input: {type: object, properties: {prompt: {type: string}}, required: [prompt]}
---

```yaml edge-serving
family: llama-2-chat
size_b: 70
format: pytorch
quantization: fp16
```
''',
}


def write_user_entries(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in USER_ENTRIES.items():
        (folder / name).write_text(text)
    return folder


def routes_in(root: Path) -> dict:
    """The `[ai.routes]` tables of `root/edge.toml` as written (`{}` without a file)."""
    import tomllib

    file = Path(root) / "edge.toml"
    if not file.exists():
        return {}
    return tomllib.loads(file.read_text()).get("ai", {}).get("routes", {})
