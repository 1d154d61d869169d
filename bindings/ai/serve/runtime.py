"""Runtimes that start servers: Docker, Podman, or the server's own command (`native`).

Each runtime builds the exact command for a `Replica` (`command()`, which `--dry-run`
prints), starts it detached, follows its log, reports its state, and lists and removes
what edge started, found by labels (`ps --filter label=dev.edge.model`, then `inspect`
for the labels and state: `ps`'s own label column joins values with commas).

GPUs: Docker takes `--gpus all` or `--gpus '"device=0,1"'` (the NVIDIA Container
Toolkit's hook); Podman takes CDI devices, `--device nvidia.com/gpu=0`, with
`--security-opt=label=disable` (the NVIDIA toolkit's CDI guide); native servers get
`CUDA_VISIBLE_DEVICES`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from bindings.ai.serve.command import Command
from bindings.ai.serve.replica import MODEL_LABEL, Replica, Served
from bindings.ai.serve.spec import ServeError

TIMEOUT = 60.0
STOP_GRACE = 10  # seconds a server gets to exit after SIGTERM


def hf_home() -> Path:
    """The host's Hugging Face home (`HF_HOME`, else `~/.cache/huggingface`)."""
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")


def hub_cache() -> Path:
    """Where the host keeps downloaded repos (`HF_HUB_CACHE`, else `<HF_HOME>/hub`)."""
    return Path(os.environ.get("HF_HUB_CACHE") or hf_home() / "hub")


class Runtime:
    """What `edge ai serve`, `ps` and `stop` need from a way of running servers."""

    name: str

    def preflight(self) -> list[str]:
        """Check the runtime works; return warnings, raise `ServeError` when it cannot."""
        raise NotImplementedError

    def command(self, replica: Replica, secrets: dict[str, str]) -> Command:
        """The command that starts `replica`; `secrets` maps the variables the server
        reads to the user's variables holding them (never the values)."""
        raise NotImplementedError

    def prepare_commands(self, image: str) -> list[Command]:
        """Commands to run before starting (an image pull), for `--dry-run`."""
        return []

    def ensure_image(self, image: str, on_line) -> None:
        """Make `image` available locally (pulling it), else `ServeError`."""

    def start(self, replica: Replica, command: Command) -> str:
        raise NotImplementedError

    def follow(self, handle: str) -> Iterator[str]:
        """The server's log lines from its start, until it exits."""
        raise NotImplementedError

    def find(self, model: str | None = None) -> list[Served]:
        raise NotImplementedError

    def tail(self, handle: str, lines: int = 20) -> list[str]:
        raise NotImplementedError

    def remove(self, served: Served) -> None:
        raise NotImplementedError


class ContainerRuntime(Runtime):
    """Docker or Podman (same CLI shape; GPUs and the image check differ)."""

    def __init__(self, cli: str) -> None:
        self.name = cli
        self.exe = shutil.which(cli)

    def _require(self) -> str:
        if self.exe is None:
            other = "podman" if self.name == "docker" else "docker"
            raise ServeError(
                f"{self.name} is not installed (not found on PATH). Install it with the "
                "NVIDIA Container Toolkit, or use --runtime "
                f"{other} / --runtime native (runs vllm, text-generation-launcher or "
                "text-embeddings-router installed on this machine)"
            )
        return self.exe

    def _run(self, *args: str, env: dict[str, str] | None = None,
             timeout: float | None = TIMEOUT) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self._require(), *args], capture_output=True, text=True,
                                  env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ServeError(f"`{self.name} {' '.join(args[:2])}` did not answer within "
                             f"{timeout:g} s: is the {self.name} daemon stuck?") from None

    def preflight(self) -> list[str]:
        if self.name != "docker":
            done = self._run("info", "--format", "json")
            if done.returncode != 0:
                raise ServeError(f"podman does not work: {_last(done.stderr)}")
            return []
        done = self._run("info", "--format", "{{json .Runtimes}}")
        if done.returncode != 0:
            raise ServeError(f"cannot talk to the Docker daemon: {_last(done.stderr)} "
                             "(is it running? can this user use docker?)")
        try:
            runtimes = json.loads(done.stdout or "{}") or {}
        except ValueError:
            runtimes = {}
        if "nvidia" not in runtimes:
            names = ", ".join(sorted(runtimes)) or "none"
            return [f"docker lists no nvidia runtime (runtimes: {names}); if the container "
                    "cannot see the GPU, install the NVIDIA Container Toolkit and run "
                    "`nvidia-ctk runtime configure --runtime=docker`"]
        return []

    def command(self, replica: Replica, secrets: dict[str, str]) -> Command:
        server = replica.server
        argv = [self.name, "run", "-d", "--name", replica.name]
        for key, value in replica.labels().items():
            argv += ["--label", f"{key}={value}"]
        argv += self._gpu_flags(replica)
        argv += ["--shm-size", server.shm] if server.shm else ["--ipc=host"]
        argv += ["-p", f"{replica.host}:{replica.port}:{server.container_port}"]
        if server.cache_is_hub_dir:
            argv += ["-v", f"{hub_cache()}:{server.cache_target}"]
        else:
            argv += ["-v", f"{hf_home()}:{server.cache_target}"]
            if hub_cache() != hf_home() / "hub":
                argv += ["-v", f"{hub_cache()}:{server.cache_target}/hub"]
        for name in secrets:
            argv += ["-e", name]
        argv += [replica.image, *replica.args]
        return Command(tuple(argv), env_from=dict(secrets))

    def _gpu_flags(self, replica: Replica) -> list[str]:
        indexes = [str(g.index) for g in replica.gpus]
        if self.name == "podman":
            devices = indexes or ["all"]
            flags = [f"--device=nvidia.com/gpu={i}" for i in devices]
            return [*flags, "--security-opt=label=disable"]
        if not indexes:
            return ["--gpus", "all"]
        return ["--gpus", f'"device={",".join(indexes)}"']

    def prepare_commands(self, image: str) -> list[Command]:
        return [Command((self.name, "pull", image))]

    def ensure_image(self, image: str, on_line) -> None:
        if self._run("image", "inspect", image).returncode == 0:
            return
        proc = subprocess.Popen([self._require(), "pull", image], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        lines: deque[str] = deque(maxlen=5)
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            on_line(line.rstrip())
        if proc.wait() != 0:
            detail = next((ln for ln in reversed(lines) if ln.strip()), "no output")
            raise ServeError(
                f"could not pull {image}: {detail}. Check the tag (IMAGES in "
                f"bindings/ai/serve/servers.py), the network, and `{self.name} login` "
                "for private registries"
            )

    def start(self, replica: Replica, command: Command) -> str:
        done = self._run(*command.argv[1:], env=command.environ(), timeout=300)
        if done.returncode != 0:
            raise ServeError(f"{self.name} could not start {replica.name}: "
                             f"{_last(done.stderr)}{_gpu_hint(done.stderr)}")
        ident = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else replica.name
        return ident[:12]  # the short id `ps` and `inspect` report

    def follow(self, handle: str) -> Iterator[str]:
        proc = subprocess.Popen([self._require(), "logs", "-f", handle],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                yield line.rstrip("\n")
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait()

    def find(self, model: str | None = None) -> list[Served]:
        label = MODEL_LABEL if model is None else f"{MODEL_LABEL}={model}"
        done = self._run("ps", "-a", "-q", "--filter", f"label={label}")
        if done.returncode != 0:
            raise ServeError(f"{self.name} ps failed: {_last(done.stderr)}")
        ids = done.stdout.split()
        if not ids:
            return []
        done = self._run("inspect", *ids)
        if done.returncode != 0:
            raise ServeError(f"{self.name} inspect failed: {_last(done.stderr)}")
        found = []
        for item in json.loads(done.stdout or "[]"):
            state = item.get("State") or {}
            labels = (item.get("Config") or {}).get("Labels") or {}
            found.append(Served(
                runtime=self.name, handle=item.get("Id", "")[:12],
                name=str(item.get("Name", "")).lstrip("/"),
                state=str(state.get("Status", "unknown")).lower(),
                exit_code=state.get("ExitCode"), labels=dict(labels),
            ))
        return sorted(found, key=lambda s: (s.model, s.label("replica")))

    def tail(self, handle: str, lines: int = 20) -> list[str]:
        done = self._run("logs", "--tail", str(lines), handle)
        return (done.stdout + done.stderr).splitlines()[-lines:]

    def remove(self, served: Served) -> None:
        if served.running:
            self._run("stop", "--time", str(STOP_GRACE), served.handle, timeout=STOP_GRACE + 30)
        done = self._run("rm", "-f", served.handle)
        if done.returncode != 0 and "No such container" not in done.stderr:
            raise ServeError(f"{self.name} rm {served.name} failed: {_last(done.stderr)}")


class NativeRuntime(Runtime):
    """The server's own command, detached; its labels ride in its environment."""

    name = "native"
    LABELS_VAR = "EDGE_AI_LABELS"
    LOG_VAR = "EDGE_AI_LOG"

    def __init__(self) -> None:
        self._logs: dict[str, str] = {}  # pid -> log file, for the ones started here

    def preflight(self) -> list[str]:
        return []

    def command(self, replica: Replica, secrets: dict[str, str]) -> Command:
        env = {}
        if replica.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g.index) for g in replica.gpus)
        argv = (*replica.server.native, *replica.args)
        return Command(argv, env_from=dict(secrets), env=env)

    def start(self, replica: Replica, command: Command) -> str:
        exe = shutil.which(command.argv[0])
        if exe is None:
            raise ServeError(
                f"{command.argv[0]} is not installed (not found on PATH), so --runtime "
                f"native cannot start {replica.server.name}; install it (vLLM: `pip install "
                "vllm`; TGI and TEI: their local install guides) or use --runtime docker"
            )
        log_dir = Path(tempfile.gettempdir()) / "edge-ai-serve"
        log_dir.mkdir(parents=True, exist_ok=True)
        # a file of its own: a server by the same name may be running (or starting) still
        fd, name = tempfile.mkstemp(prefix=f"{replica.name}-", suffix=".log", dir=log_dir)
        log = Path(name)
        environ = command.environ()
        environ[self.LABELS_VAR] = json.dumps(replica.labels())
        environ[self.LOG_VAR] = str(log)
        environ["EDGE_AI_NAME"] = replica.name
        with open(fd, "wb") as out:
            proc = subprocess.Popen([exe, *command.argv[1:]], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=environ,
                                    start_new_session=True)
        self._logs[str(proc.pid)] = str(log)
        return str(proc.pid)

    def _log(self, handle: str) -> str | None:
        return self._logs.get(handle) or _proc_environ(int(handle)).get(self.LOG_VAR)

    def follow(self, handle: str) -> Iterator[str]:
        pid = int(handle)
        log = self._log(handle)
        if not log:
            return
        with open(log, encoding="utf-8", errors="replace") as stream:
            buffer = ""
            while True:
                chunk = stream.readline()
                if chunk:
                    buffer += chunk
                    if buffer.endswith("\n"):
                        yield buffer.rstrip("\n")
                        buffer = ""
                    continue
                if not alive(pid):
                    if buffer:
                        yield buffer
                    return
                time.sleep(0.1)

    def find(self, model: str | None = None) -> list[Served]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            environ = _proc_environ(int(entry.name))
            raw = environ.get(self.LABELS_VAR)
            if not raw:
                continue
            try:
                labels = json.loads(raw)
            except ValueError:
                continue
            if model is not None and labels.get(MODEL_LABEL) != model:
                continue
            state = "running" if alive(int(entry.name)) else "exited"
            found.append(Served("native", entry.name, environ.get("EDGE_AI_NAME", ""),
                                state, None, labels))
        return sorted(found, key=lambda s: (s.model, s.label("replica")))

    def tail(self, handle: str, lines: int = 20) -> list[str]:
        log = self._log(handle)
        if not log or not os.path.exists(log):
            return []
        with open(log, encoding="utf-8", errors="replace") as stream:
            return list(deque(stream, maxlen=lines))

    def remove(self, served: Served) -> None:
        stop_group(int(served.handle), STOP_GRACE)


def stop_group(pid: int, grace: float) -> None:
    """SIGTERM the process group `pid` leads, SIGKILL it after `grace` seconds; return
    once it is gone."""
    try:
        os.killpg(pid, signal.SIGTERM if grace else signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.02)


def _proc_environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie has exited


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _gpu_hint(stderr: str) -> str:
    if "nvidia" in stderr.lower() or "gpu" in stderr.lower():
        return (" (no GPU reached the container: install the NVIDIA Container Toolkit and "
                "restart the daemon)")
    return ""


def get_runtime(name: str) -> Runtime:
    if name == "native":
        return NativeRuntime()
    if name in ("docker", "podman"):
        return ContainerRuntime(name)
    raise ServeError(f"unknown runtime {name!r} (docker, podman, native)")
