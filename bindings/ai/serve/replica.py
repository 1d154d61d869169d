"""One server process or container to start, and one found running, named by its labels.

edge finds what it started by labels on the containers themselves (`docker ps --filter
label=dev.edge.model`), never by a state file of its own that could drift from what
really runs. A native process carries the same labels in its environment.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from bindings.ai.serve.gpus import Gpu
from bindings.ai.serve.servers import Server

LABEL = "dev.edge"
MODEL_LABEL = f"{LABEL}.model"


@dataclass(frozen=True)
class Replica:
    """What `edge ai serve` starts for one replica of one model."""

    model: str
    server: Server
    index: int
    port: int
    image: str
    args: tuple[str, ...]
    served_model: str
    root: str
    gpus: tuple[Gpu, ...] = ()   # empty: the runtime's default (no GPU selection)
    host: str = "127.0.0.1"

    @property
    def name(self) -> str:
        """The container name: `edge-ai-<model slug>-<server>-<replica>-<project>`, the
        last part a short hash of the project folder (two projects may serve one model)."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.model.lower()).strip("-")
        project = hashlib.sha1(self.root.encode()).hexdigest()[:6]
        return f"edge-ai-{slug}-{self.server.name}-{self.index}-{project}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def labels(self) -> dict[str, str]:
        return {
            MODEL_LABEL: self.model,
            f"{LABEL}.server": self.server.name,
            f"{LABEL}.replica": str(self.index),
            f"{LABEL}.url": self.url,
            f"{LABEL}.served-model": self.served_model,
            f"{LABEL}.health": self.server.health_path,
            f"{LABEL}.root": self.root,
            f"{LABEL}.gpus": ",".join(str(g.index) for g in self.gpus),
        }


@dataclass(frozen=True)
class Served:
    """A server edge started, as the runtime reports it now."""

    runtime: str
    handle: str               # container id, or pid for a native process
    name: str
    state: str                # running, exited, created...
    exit_code: int | None
    labels: dict[str, str] = field(default_factory=dict)

    def label(self, key: str) -> str:
        return self.labels.get(f"{LABEL}.{key}", "")

    @property
    def model(self) -> str:
        return self.label("model")

    @property
    def server(self) -> str:
        return self.label("server")

    @property
    def url(self) -> str:
        return self.label("url")

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def gpu_indexes(self) -> list[int]:
        return [int(i) for i in self.label("gpus").split(",") if i.strip().isdigit()]

    def describe_state(self) -> str:
        if self.state == "exited" and self.exit_code is not None:
            return f"exited ({self.exit_code})"
        return self.state
