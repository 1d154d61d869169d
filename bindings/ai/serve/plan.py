"""From `edge ai serve MODEL... [options]` to the replicas to start: server, GPUs, ports.

`plan_models(...)` resolves each model's `ServeSpec`, picks its server, checks its GPU
memory need against the GPUs it would get, gives each replica its own GPUs (disjoint,
skipping GPUs edge's running servers hold unless `--gpus` says otherwise) and its own
free host port, and names the secrets the servers read. Nothing is started here: the
same plan feeds `--dry-run`, the launcher and the compose / Kubernetes emitters.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bindings.ai.errors import AiError
from bindings.ai.serve import gpus as gpu_info
from bindings.ai.serve.gpus import Gpu
from bindings.ai.serve.replica import Replica
from bindings.ai.serve.servers import Launch, Server, get_server
from bindings.ai.serve.spec import ServeError, ServeSpec, serve_spec

HF_TOKEN = "HF_TOKEN"


@dataclass(frozen=True)
class ServeOptions:
    """The knobs of `edge ai serve` (every one optional)."""

    server: str | None = None
    gpus: str | None = None            # None: every visible GPU not held by edge already
    tensor_parallel: int = 1
    replicas: int = 1
    port: int | None = None            # None: the server's default, or the next free one
    host: str = "127.0.0.1"            # where published ports listen
    hf_token_env: str | None = None    # None: HF_TOKEN when set
    api_key_env: str | None = None
    gpu_memory_utilization: float | None = None
    extra_args: tuple[str, ...] = ()
    native: bool = False


@dataclass
class ModelPlan:
    """One model's replicas and what its route will say."""

    spec: ServeSpec
    server: Server
    replicas: list[Replica]
    secrets: dict[str, str] = field(default_factory=dict)
    api_key_env: str | None = None
    notes: list[str] = field(default_factory=list)

    def unroutable(self) -> str | None:
        """Why edge could not send this model's requests to the server (None: it can):
        the route's engine must exist and serve the model's task."""
        from bindings.ai.engines import ENGINES, engines_serving
        from bindings.ai.tasks import TASKS, get_task

        engine = self.server.name
        if engine not in ENGINES:
            return f"edge has no {engine} engine yet (engines: {', '.join(ENGINES)})"
        task = get_task(self.spec.task)
        if task is None:
            return (f"edge runs no {self.spec.task or 'unnamed'} task yet "
                    f"(tasks: {', '.join(TASKS)})")
        if engine not in engines_serving(task.capability):
            return f"edge's {engine} engine does not serve {task.capability} yet"
        return None

    def route(self) -> dict[str, Any]:
        """The `[ai.routes."MODEL"]` table that sends the model to these replicas."""
        table: dict[str, Any] = {
            "engine": self.server.name,
            "urls": [r.url for r in self.replicas],
            "served_model": self.spec.hf_repo,
        }
        if self.api_key_env:
            table["options"] = {"api_key_env": self.api_key_env}
        return table


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on `host:port` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise ServeError(f"cannot use {host}:{port}: {exc.strerror}") from None
    return True


def plan_models(
    catalogue: Any,
    models: Iterable[str],
    options: ServeOptions,
    *,
    root: Path,
    gpus: list[Gpu] | None,
    busy_gpus: Iterable[int] = (),
    is_free: Callable[[str, int], bool] = port_free,
    environ: dict[str, str] | None = None,
    emit: bool = False,
) -> list[ModelPlan]:
    """Plan every model; `gpus` is what `nvidia-smi` lists (None: unknown, e.g. a dry run
    on a machine without GPUs: devices are then taken as `--gpus` writes them). With
    `emit` the plan is for another machine: secrets are named whether or not they are
    set here."""
    environ = os.environ if environ is None else environ
    if options.tensor_parallel < 1 or options.replicas < 1:
        raise ServeError("--tensor-parallel and --replicas must be at least 1")
    pool = _gpu_pool(gpus, options, set(busy_gpus))
    used_ports: set[int] = set()
    plans = []
    for model in models:
        try:
            entry = catalogue.get(model)
        except AiError as exc:
            raise ServeError(f"{exc} (`edge models list` shows the catalogue)") from None
        spec = serve_spec(entry)
        server = get_server(spec.pick_server(options.server))
        groups = _gpu_groups(pool, options, spec.model)
        for group in groups if gpus is not None else ():
            gpu_info.check_memory(spec.model, spec.gpu_memory_gib, group)
        secrets, notes = _secrets(server, options, environ, emit)
        replicas = []
        for index, group in enumerate(groups):
            port = _port(server, options, used_ports, is_free)
            launch = Launch(options.tensor_parallel, options.gpu_memory_utilization,
                            options.extra_args, options.host, port)
            replicas.append(Replica(
                model=spec.model, server=server, index=index, port=port,
                image=server.image(group[0].compute_cap if group else None),
                args=tuple(server.args(spec, launch, native=options.native)),
                served_model=spec.hf_repo, root=str(Path(root).resolve()),
                gpus=tuple(group), host=options.host,
            ))
        plans.append(ModelPlan(spec, server, replicas, secrets, options.api_key_env, notes))
    return plans


def _gpu_pool(gpus: list[Gpu] | None, options: ServeOptions, busy: set[int]) -> list[Gpu]:
    if gpus is None:  # not probed (a dry run without GPUs): take --gpus literally
        raw = (options.gpus or "all").strip().strip('"')
        wanted = raw.removeprefix("device=")
        needed = options.replicas * options.tensor_parallel
        if wanted == "all":
            indexes: Iterable[int] = range(needed) if needed > 1 else ()
        elif wanted.isdigit() and not raw.startswith("device="):
            indexes = range(int(wanted))
        else:
            try:
                indexes = [int(i) for i in wanted.split(",")]
            except ValueError:
                raise ServeError(f"--gpus {options.gpus!r}: expected all, a count, or GPU "
                                 "indexes like 0,1 (device=0,1)") from None
        return [Gpu(i, f"GPU {i}", 0) for i in indexes]
    if options.gpus is not None:
        return gpu_info.select(gpus, options.gpus)
    free = [g for g in gpus if g.index not in busy]
    if not free:
        raise ServeError("every visible GPU is held by a server edge started (edge ai ps); "
                         "stop one (edge ai stop MODEL) or share a GPU with --gpus device=0")
    return free


def _gpu_groups(pool: list[Gpu], options: ServeOptions, model: str) -> list[list[Gpu]]:
    """Each replica's GPUs, taken from the front of `pool` (which shrinks)."""
    tp, count = options.tensor_parallel, options.replicas
    if not pool:
        return [[] for _ in range(count)]
    groups = gpu_info.assign(pool, count, tp, model)
    del pool[: count * tp]
    return groups


def _port(server: Server, options: ServeOptions, used: set[int],
          is_free: Callable[[str, int], bool]) -> int:
    if options.port is not None:
        port = options.port + len(used)
        if not is_free(options.host, port):
            raise ServeError(f"port {port} is taken on {options.host}: another server "
                             "listens there (edge ai ps lists edge's); pick another --port")
        used.add(port)
        return port
    port = server.default_port
    while port in used or not is_free(options.host, port):
        port += 1
        if port > 65535:
            raise ServeError(f"no free port from {server.default_port} up on {options.host}")
    used.add(port)
    return port


def _secrets(server: Server, options: ServeOptions, environ: dict[str, str],
             emit: bool) -> tuple[dict[str, str], list[str]]:
    """Variables the server reads -> the user's variables holding them (names only)."""
    secrets, notes = {}, []
    source = options.hf_token_env or HF_TOKEN
    if emit:
        secrets[HF_TOKEN] = source
        if options.api_key_env:
            secrets[server.api_key_env] = options.api_key_env
        return secrets, notes
    if source in environ:
        secrets[HF_TOKEN] = source
    elif options.hf_token_env:
        raise ServeError(f"--hf-token-env {source}: {source} is not set in this environment")
    else:
        notes.append("no Hugging Face token (HF_TOKEN is not set): gated repos such as "
                     "meta-llama/* will fail to download; set it or pass --hf-token-env NAME")
    if options.api_key_env:
        if options.api_key_env not in environ:
            raise ServeError(f"--api-key-env {options.api_key_env}: it is not set in this "
                             "environment")
        secrets[server.api_key_env] = options.api_key_env
    return secrets, notes
