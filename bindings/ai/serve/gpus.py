"""Which GPUs this machine has (`nvidia-smi`), which ones `--gpus` selects, and who gets which.

`nvidia-smi --query-gpu=index,name,memory.total,compute_cap --format=csv,noheader,nounits`
lists each GPU with its memory in MiB (older drivers lack `compute_cap`: asked again
without it). `--gpus` takes Docker's forms: `all`, a count (`2`: the first two), or
device indexes (`0,2` or `device=0,2`).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from bindings.ai.serve.spec import ServeError

QUERY = "index,name,memory.total"
TIMEOUT = 20.0


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_mib: int
    compute_cap: str | None = None

    @property
    def memory_gib(self) -> float:
        return self.memory_mib / 1024


def probe(nvidia_smi: str | None = None) -> list[Gpu]:
    """The GPUs `nvidia-smi` sees; `ServeError` saying why when it sees none."""
    exe = nvidia_smi or shutil.which("nvidia-smi")
    if exe is None:
        raise ServeError(
            "no GPU visible: nvidia-smi is not installed (no NVIDIA driver on this machine). "
            "vLLM, TGI and TEI need an NVIDIA GPU; install the driver, or route the model to "
            "a GPU server elsewhere with --ai-route MODEL=vllm:http://HOST:8000"
        )
    out = _run([exe, f"--query-gpu={QUERY},compute_cap", "--format=csv,noheader,nounits"])
    if out is None:
        out = _run([exe, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"])
    if out is None or not out.strip():
        listing = _run([exe, "-L"], keep_errors=True) or ""
        detail = listing.strip().splitlines()[-1] if listing.strip() else "no output"
        raise ServeError(f"no GPU visible: `nvidia-smi -L` says {detail!r}")
    gpus = []
    for line in out.strip().splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        try:
            index, name, memory = int(cells[0]), cells[1], int(float(cells[2]))
        except (IndexError, ValueError):
            raise ServeError(f"cannot read nvidia-smi's GPU list: {line!r}") from None
        cap = cells[3] if len(cells) > 3 and cells[3] not in ("", "[N/A]") else None
        gpus.append(Gpu(index, name, memory, cap))
    return gpus


def _run(argv: list[str], keep_errors: bool = False) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServeError(f"no GPU visible: {argv[0]} failed: {exc}") from None
    if done.returncode != 0:
        return (done.stdout + done.stderr) if keep_errors else None
    return done.stdout


def select(gpus: list[Gpu], wanted: str) -> list[Gpu]:
    """The GPUs `--gpus` names, in order; `ServeError` for any that is not visible."""
    text = wanted.strip().strip('"').removeprefix("device=")
    if text == "all":
        return list(gpus)
    visible = ", ".join(str(g.index) for g in gpus) or "none"
    if text.isdigit() and "," not in wanted and not wanted.startswith("device="):
        count = int(text)
        if count < 1:
            raise ServeError(f"--gpus {wanted}: a bare number is a count of GPUs, as for "
                             f"docker; GPU {count} alone is --gpus device={count}")
        if count > len(gpus):
            raise ServeError(f"--gpus {wanted}: {len(gpus)} GPU(s) visible ({visible})")
        return gpus[:count]
    by_index = {g.index: g for g in gpus}
    chosen = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise ServeError(f"--gpus {wanted!r}: expected all, a count, or GPU indexes "
                             "like 0,1 (device=0,1)")
        if int(part) not in by_index:
            raise ServeError(f"--gpus {wanted}: GPU {part} is not visible "
                             f"(nvidia-smi lists {visible})")
        chosen.append(by_index[int(part)])
    return chosen


def assign(gpus: list[Gpu], groups: int, per_group: int, what: str) -> list[list[Gpu]]:
    """Split `gpus` into `groups` disjoint sets of `per_group` (one per replica)."""
    needed = groups * per_group
    if needed > len(gpus):
        visible = ", ".join(f"{g.index} ({g.name})" for g in gpus)
        raise ServeError(f"{what} needs {needed} GPU(s) ({groups} x {per_group}), "
                         f"but only {len(gpus)} are available: {visible}")
    return [gpus[i * per_group:(i + 1) * per_group] for i in range(groups)]


def check_memory(model: str, need_gib: float | None, gpus: list[Gpu]) -> None:
    """`ServeError` when the model's estimated need exceeds what its GPUs hold together."""
    if need_gib is None or not gpus:
        return
    have = sum(g.memory_gib for g in gpus)
    if need_gib > have:
        names = ", ".join(f"GPU {g.index} {g.name} {g.memory_gib:.0f} GiB" for g in gpus)
        raise ServeError(
            f"{model} needs about {need_gib:g} GiB of GPU memory, more than the "
            f"{have:.0f} GiB of {names} (nvidia-smi --query-gpu=memory.total). Spread it "
            "over more GPUs with --tensor-parallel N, or serve a smaller quantization"
        )
