"""A fake `docker` / `podman` CLI: records every call, runs "containers" as local processes.

Installed first on PATH by `tests/support/fake_host.py` (as `docker` and `podman`). It
implements what `bindings.ai.serve.runtime` uses, with the real CLIs' output shapes and
error wording: `info`, `image inspect`, `pull`, `run -d`, `logs [-f] [--tail N]`,
`inspect`, `ps -a -q --filter label=K[=V]`, `stop`, `rm -f`. `run` starts
`tests/fakes/fake_container.py`, which prints the server's start-up log and then serves
the fake vLLM / TGI / TEI protocol on the published host port.

State lives in `$FAKE_DOCKER_STATE` (containers as JSON, their logs, `calls.jsonl`).
Knobs (environment): `FAKE_DOCKER_DOWN` (daemon unreachable), `FAKE_DOCKER_NO_NVIDIA`
(no nvidia runtime in `info`), `FAKE_DOCKER_PULL_FAIL` (pulls fail as an unknown tag
does), `FAKE_CONTAINER_*` (passed to the containers: see fake_container.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bindings.ai.serve.runtime import alive, stop_group

STATE = Path(os.environ.get("FAKE_DOCKER_STATE", "."))
CLI = os.environ.get("FAKE_DOCKER_CLI", "docker")
CONTAINER = Path(__file__).with_name("fake_container.py")
RECORDED_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY", "API_KEY")
#: `run` options that take a value (the rest are flags or `--opt=value`).
VALUED = {"--name", "--label", "-p", "--publish", "-v", "--volume", "-e", "--env", "--gpus",
          "--shm-size", "--device", "--security-opt", "--ipc", "--runtime"}


def main(argv: list[str]) -> int:
    record(argv)
    if os.environ.get("FAKE_DOCKER_DOWN") and argv[:1] != ["--version"]:
        return fail("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                    "Is the docker daemon running?")
    command, args = (argv[0], argv[1:]) if argv else ("help", [])
    handler = COMMANDS.get(command)
    if command == "image" and args[:1] == ["inspect"]:
        return image_inspect(args[1:])
    if handler is None:
        return fail(f"{CLI}: '{command}' is not a {CLI} command.")
    return handler(args)


def record(argv: list[str]) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    env = {name: os.environ[name] for name in RECORDED_ENV if name in os.environ}
    with (STATE / "calls.jsonl").open("a") as out:
        out.write(json.dumps({"cli": CLI, "argv": argv, "env": env}) + "\n")


def fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


# --- images -------------------------------------------------------------------------------


def images() -> set[str]:
    file = STATE / "images.json"
    return set(json.loads(file.read_text())) if file.exists() else set()


def image_inspect(args: list[str]) -> int:
    if args and args[-1] in images():
        print(json.dumps([{"RepoTags": [args[-1]]}]))
        return 0
    return fail(f"Error: No such image: {args[-1] if args else ''}")


def pull(args: list[str]) -> int:
    image = args[-1]
    repo, _, tag = image.rpartition(":")
    if os.environ.get("FAKE_DOCKER_PULL_FAIL"):
        print(f"Error response from daemon: manifest for {image} not found: manifest "
              "unknown: manifest unknown", file=sys.stderr)
        return 1
    print(f"{tag}: Pulling from {repo.split('/', 1)[-1]}")
    print("a1b2c3d4e5f6: Pull complete")
    print("Digest: sha256:" + "0" * 64)
    print(f"Status: Downloaded newer image for {image}")
    (STATE / "images.json").write_text(json.dumps(sorted(images() | {image})))
    return 0


def info(args: list[str]) -> int:
    if CLI == "podman":
        print(json.dumps({"host": {"ociRuntime": {"name": "crun"}}}))
        return 0
    runtimes = {"io.containerd.runc.v2": {"path": "runc"}, "runc": {"path": "runc"}}
    if not os.environ.get("FAKE_DOCKER_NO_NVIDIA"):
        runtimes["nvidia"] = {"path": "nvidia-container-runtime"}
    print(json.dumps(runtimes))
    return 0


# --- containers ---------------------------------------------------------------------------


def containers() -> list[dict]:
    return [json.loads(f.read_text()) for f in sorted(STATE.glob("c-*.json"))]


def save(container: dict) -> None:
    (STATE / f"c-{container['Id']}.json").write_text(json.dumps(container))


def lookup(ref: str) -> dict | None:
    for container in containers():
        if ref in (container["Name"], container["Id"]) or (
            len(ref) >= 12 and container["Id"].startswith(ref)
        ):
            return container
    return None


def running(container: dict) -> bool:
    """Whether the container's process still runs: its pid alive *and* still the process
    started for it (on a busy machine a pid is soon reused by someone else's process)."""
    return alive(container["Pid"]) and owner(container["Pid"]) == container["Id"]


def owner(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in environ:
        if item.startswith(b"FAKE_CONTAINER_ID="):
            return item.split(b"=", 1)[1].decode()
    return None


def state(container: dict) -> dict:
    if container.get("Removed"):
        return {"Status": "removed"}
    up = running(container)
    code = None
    exit_file = STATE / f"{container['Id']}.exit"
    if not up:
        code = int(exit_file.read_text()) if exit_file.exists() else 137
    return {"Status": "running" if up else "exited", "Running": up,
            "ExitCode": code if code is not None else 0, "Pid": container["Pid"]}


def run(args: list[str]) -> int:
    options: dict[str, list[str]] = {}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        if "=" in arg and arg.split("=", 1)[0] in VALUED | {"--ipc", "--security-opt"}:
            key, value = arg.split("=", 1)
            options.setdefault(key, []).append(value)
        elif arg in VALUED:
            options.setdefault(arg, []).append(args[i + 1])
            i += 1
        else:
            options.setdefault(arg, []).append("")
        i += 1
    image, command = args[i], args[i + 1:]
    name = (options.get("--name") or [uuid.uuid4().hex[:12]])[0]
    existing = lookup(name)
    if existing:
        return fail(f'{CLI}: Error response from daemon: Conflict. The container name '
                    f'"/{name}" is already in use by container "{existing["Id"]}".', 125)
    if image not in images():
        pulled = pull([image])
        if pulled:
            return 125
    published = (options.get("-p") or options.get("--publish") or [""])[0]
    host_ip, host_port, _ = ([*published.split(":"), "", "", ""])[:3]
    if host_port and not free(host_ip or "0.0.0.0", int(host_port)):
        return fail(f"{CLI}: Error response from daemon: driver failed programming external "
                    f"connectivity on endpoint {name}: Bind for {host_ip}:{host_port} "
                    "failed: port is already allocated.", 125)
    labels = dict(item.split("=", 1) for item in options.get("--label", []))
    env = {**os.environ, "FAKE_IMAGE": image, "FAKE_PORT": host_port,
           "FAKE_ARGS": json.dumps(command)}
    ident = uuid.uuid4().hex + uuid.uuid4().hex
    env["FAKE_EXIT_FILE"] = str(STATE / f"{ident}.exit")
    env["FAKE_CONTAINER_ID"] = ident
    log = (STATE / f"{ident}.log").open("wb")
    proc = subprocess.Popen([sys.executable, str(CONTAINER)], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    save({"Id": ident, "Name": name, "Image": image, "Labels": labels, "Args": command,
          "Pid": proc.pid, "Options": options,
          "EnvNames": options.get("-e", []) + options.get("--env", [])})
    print(ident)
    return 0


def free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def logs(args: list[str]) -> int:
    follow = "-f" in args or "--follow" in args
    tail = int(args[args.index("--tail") + 1]) if "--tail" in args else None
    container = lookup(args[-1])
    if container is None:
        return fail(f"Error response from daemon: No such container: {args[-1]}")
    log = STATE / f"{container['Id']}.log"
    if not follow:
        lines = log.read_text(errors="replace").splitlines()
        print("\n".join(lines[-tail:] if tail else lines))
        return 0
    with log.open(errors="replace") as stream:
        while True:
            line = stream.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
                continue
            if not running(container):
                sys.stdout.write(stream.read())
                return 0
            time.sleep(0.05)


def inspect(args: list[str]) -> int:
    out = []
    for ref in args:
        container = lookup(ref)
        if container is None:
            return fail(f"Error: No such object: {ref}")
        out.append({
            "Id": container["Id"],
            "Name": container["Name"] if CLI == "podman" else "/" + container["Name"],
            "Config": {"Image": container["Image"], "Labels": container["Labels"]},
            "State": state(container),
        })
    print(json.dumps(out))
    return 0


def ps(args: list[str]) -> int:
    wanted = [a.split("=", 1)[1] for a in _values(args, "--filter") if a.startswith("label=")]
    for container in containers():
        if "-a" not in args and not running(container):
            continue
        if all(_has_label(container["Labels"], w) for w in wanted):
            print(container["Id"][:12])
    return 0


def _values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == flag]


def _has_label(labels: dict[str, str], wanted: str) -> bool:
    key, eq, value = wanted.partition("=")
    return key in labels and (not eq or labels[key] == value)


def stop(args: list[str]) -> int:
    grace = int(args[args.index("--time") + 1]) if "--time" in args else 10
    container = lookup(args[-1])
    if container is None:
        return fail(f"Error response from daemon: No such container: {args[-1]}")
    if running(container):
        stop_group(container["Pid"], grace)
    print(args[-1])
    return 0


def rm(args: list[str]) -> int:
    container = lookup(args[-1])
    if container is None:
        return fail(f"Error response from daemon: No such container: {args[-1]}")
    if running(container):
        if "-f" not in args:
            return fail("Error response from daemon: cannot remove container: container is "
                        "running: stop the container before removing or force remove")
        stop_group(container["Pid"], 0)
    (STATE / f"c-{container['Id']}.json").unlink()
    print(args[-1])
    return 0


COMMANDS = {"info": info, "pull": pull, "run": run, "logs": logs, "inspect": inspect,
            "ps": ps, "stop": stop, "rm": rm}

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
