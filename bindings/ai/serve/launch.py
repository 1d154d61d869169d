"""Start planned servers, watch them come up, and route the models that did.

`serve_models(...)` is `edge ai serve` without the CLI: preflight the runtime, probe the
GPUs, plan, pull the images, start every replica, follow each log (progress display),
wait for each server's health endpoint, then write each ready model's route into
`edge.toml`, where a running `edge dev` picks it up. A model whose servers already run
(found by label) is waited for and routed, not started twice. A server that exits
before it is ready fails its model with the last lines of its log; the others go on.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bindings.ai.serve import gpus as gpu_info
from bindings.ai.serve.plan import ServeOptions, plan_models, port_free
from bindings.ai.serve.progress import Display, Phases, Status
from bindings.ai.serve.replica import Served
from bindings.ai.serve.runtime import Runtime
from bindings.ai.serve.spec import ServeError

POLL = 0.5        # seconds between health checks
TAIL = 15         # log lines shown when a server fails
CATCH_UP = 3.0    # seconds the log may lag behind /health


@dataclass
class Watch:
    """One server being waited for."""

    model: str
    name: str
    server: str
    handle: str
    url: str
    health: str
    phases: Phases
    lines: deque = field(default_factory=lambda: deque(maxlen=TAIL))
    ended: bool = False
    ready: bool = False
    failure: str | None = None


@dataclass
class Outcome:
    """What `serve_models` did: routes written (model -> table, replaced table)."""

    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    replaced: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def serve_models(
    catalogue: Any,
    models: list[str],
    options: ServeOptions,
    runtime: Runtime,
    display: Display,
    *,
    root: Path,
    timeout: float,
    write_route: Callable[[Path, str, dict[str, Any]], dict[str, Any] | None],
    probe: Callable[[], list[gpu_info.Gpu]] = gpu_info.probe,
) -> Outcome:
    outcome = Outcome()
    outcome.notes += runtime.preflight()
    everywhere = runtime.find()
    # GPUs are the machine's; servers are the project's (another project may serve the
    # same model on its own port, under its own container name)
    here = str(Path(root).resolve())
    existing = [s for s in everywhere if s.label("root") == here]
    running = {s.model for s in existing if s.running}
    gpus = probe()
    busy = {i for s in everywhere if s.running for i in s.gpu_indexes}
    fresh = [m for m in models if m not in running]
    plans = plan_models(catalogue, fresh, options, root=root, gpus=gpus, busy_gpus=busy,
                        is_free=port_free)
    for plan in plans:
        why = plan.unroutable()
        if why:  # a server nobody can use would only hold a GPU
            raise ServeError(f"{plan.spec.model}: edge could not route requests to a "
                             f"{plan.server.name} server: {why}. `--dry-run` and `--emit` "
                             "still show how to run it")
        outcome.notes += plan.notes
    for served in existing:
        if served.model in fresh:  # an exited leftover holds the container name
            runtime.remove(served)
    for note in outcome.notes:
        display.note(f"note: {note}")

    watches = [_attach(s, display) for s in existing if s.running and s.model in models]
    for model in {w.model for w in watches}:
        display.note(f"{model}: already running (edge ai stop {model} to restart it "
                     "with other options)")
    for image in dict.fromkeys(r.image for p in plans for r in p.replicas):
        display.note(f"pulling {image} (if not present)")
        runtime.ensure_image(image, lambda line: None)
    for plan in plans:
        for replica in plan.replicas:
            command = runtime.command(replica, plan.secrets)
            handle = runtime.start(replica, command)
            watch = Watch(replica.model, replica.name, replica.server.name, handle,
                          replica.url, replica.server.health_path,
                          Phases(replica.server.name))
            display.update(watch.name, _label(watch), watch.phases.status)
            watches.append(watch)

    wait_ready(watches, runtime, display, timeout)
    tables = {p.spec.model: p.route() for p in plans}
    for model in {w.model for w in watches} - set(tables):
        tables[model] = route_from_labels([s for s in existing if s.model == model])
    for model, table in tables.items():
        failed = [w for w in watches if w.model == model and not w.ready]
        if failed:
            outcome.errors += [w.failure or f"{w.name} is not ready" for w in failed]
            continue
        previous = write_route(root, model, table)
        outcome.routes[model] = table
        if previous and previous != table:
            outcome.replaced[model] = previous
    return outcome


def _label(watch: Watch) -> str:
    return f"{watch.model} [{watch.server} {watch.url}]"


def _attach(served: Served, display: Display) -> Watch:
    watch = Watch(served.model, served.name, served.server, served.handle, served.url,
                  served.label("health") or "/health", Phases(served.server))
    display.update(watch.name, _label(watch), watch.phases.status)
    return watch


def route_from_labels(servers: list[Served]) -> dict[str, Any]:
    """The route edge wrote for running servers, rebuilt from their labels."""
    servers = sorted(servers, key=lambda s: int(s.label("replica") or 0))
    return {"engine": servers[0].server, "urls": [s.url for s in servers if s.running],
            "served_model": servers[0].label("served-model")}


def wait_ready(watches: list[Watch], runtime: Runtime, display: Display,
               timeout: float) -> None:
    """Follow every log and poll every health endpoint until each server is ready or has
    failed (`watch.failure` says how), or `timeout` seconds pass."""
    lines: queue.Queue = queue.Queue()
    for watch in watches:
        threading.Thread(target=_pump, args=(runtime, watch, lines), daemon=True).start()
    deadline = time.monotonic() + timeout
    next_poll = 0.0
    with httpx.Client(timeout=2.0) as client:
        while any(not w.ready and w.failure is None for w in watches):
            now = time.monotonic()
            if now >= deadline:
                for w in watches:
                    if not w.ready and w.failure is None:
                        w.failure = _timed_out(w, runtime, timeout)
                break
            if _read_line(lines, display, max(0.0, min(POLL, next_poll - now))):
                continue
            next_poll = time.monotonic() + POLL
            for w in watches:
                if w.ready or w.failure is not None:
                    continue
                if _healthy(client, w):
                    w.ready = True
                elif w.ended or not _running(runtime, w):
                    w.failure = _exited(w, runtime)
    # The log may lag behind /health: let it catch up (briefly) so the display shows
    # every phase the server went through, then say healthy.
    catch_up = time.monotonic() + CATCH_UP
    while time.monotonic() < catch_up and any(
            w.ready and not w.ended and w.phases.status.phase != "ready" for w in watches):
        _read_line(lines, display, 0.1)
    for w in watches:
        if w.ready:
            display.update(w.name, _label(w), Status("healthy", w.url))


def _read_line(lines: queue.Queue, display: Display, wait: float) -> bool:
    """Take one log line off the queue (waiting up to `wait`); False when there was none."""
    try:
        watch, line = lines.get(timeout=wait)
    except queue.Empty:
        return False
    if line is None:
        watch.ended = True
    else:
        watch.lines.append(line)
        if watch.phases.feed(line):
            display.update(watch.name, _label(watch), watch.phases.status)
    return True


def _pump(runtime: Runtime, watch: Watch, lines: queue.Queue) -> None:
    try:
        for line in runtime.follow(watch.handle):
            lines.put((watch, line))
    finally:
        lines.put((watch, None))


def _healthy(client: httpx.Client, watch: Watch) -> bool:
    try:
        return client.get(watch.url + watch.health).status_code == 200
    except httpx.HTTPError:
        return False


def _running(runtime: Runtime, watch: Watch) -> bool:
    if not watch.ended:
        return True
    return any(s.handle == watch.handle and s.running for s in runtime.find(watch.model))


def _exited(watch: Watch, runtime: Runtime) -> str:
    state = next((s for s in runtime.find(watch.model) if s.handle == watch.handle), None)
    how = state.describe_state() if state else "gone"
    tail = list(watch.lines) or runtime.tail(watch.handle, TAIL)
    shown = "\n".join(f"    {line}" for line in tail[-TAIL:]) or "    (no output)"
    errors = watch.phases.errors
    hint = f"\n  error: {errors[-1]}" if errors else ""
    return (f"{watch.name} ({watch.model}) stopped before it was ready: {how}.{hint}\n"
            f"  its last log lines:\n{shown}")


def _timed_out(watch: Watch, runtime: Runtime, timeout: float) -> str:
    status = watch.phases.status
    return (f"{watch.name} ({watch.model}) was not healthy at {watch.url}{watch.health} "
            f"after {timeout:g} s (last seen: {status.phase}). It keeps running: follow it "
            f"with `{runtime.name} logs -f {watch.name}`, run `edge ai serve` again to "
            f"wait and route it, or `edge ai stop {watch.model}`")

