"""A fake `nvidia-smi`: `-L` and `--query-gpu=...` over the GPUs `FAKE_GPUS` describes.

`FAKE_GPUS` is `;`-separated `name:memory_mib[:compute_cap]` (e.g.
`NVIDIA A100-SXM4-80GB:81920:8.0`); empty means a driver that sees no GPU, which the
real tool reports as "No devices were found" with exit status 6. Output formats follow
`nvidia-smi --help-query-gpu` (`--format=csv,noheader,nounits`); `FAKE_NVIDIA_OLD_DRIVER`
makes `compute_cap` an unknown field, as drivers before 510 do. Calls are recorded in
`$FAKE_DOCKER_STATE/calls.jsonl` like fake_docker.py's.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def gpus() -> list[tuple[str, int, str]]:
    spec = os.environ.get("FAKE_GPUS", "")
    out = []
    for item in filter(None, spec.split(";")):
        name, memory, *cap = item.split(":")
        out.append((name, int(memory), cap[0] if cap else "8.0"))
    return out


def main(argv: list[str]) -> int:
    state = os.environ.get("FAKE_DOCKER_STATE")
    if state:
        Path(state).mkdir(parents=True, exist_ok=True)
        with (Path(state) / "calls.jsonl").open("a") as out:
            out.write(json.dumps({"cli": "nvidia-smi", "argv": argv, "env": {}}) + "\n")
    found = gpus()
    if not found:
        print("No devices were found")
        return 6
    query = next((a.split("=", 1)[1] for a in argv if a.startswith("--query-gpu=")), None)
    if query is not None:
        fields = query.split(",")
        for index, (name, memory, cap) in enumerate(found):
            values = {"index": str(index), "name": name, "memory.total": str(memory)}
            if not os.environ.get("FAKE_NVIDIA_OLD_DRIVER"):
                values["compute_cap"] = cap
            unknown = [f for f in fields if f not in values]
            if unknown:
                print(f'Field "{unknown[0]}" is not a valid field to query.', file=sys.stderr)
                return 2
            print(", ".join(values[f] for f in fields))
        return 0
    if "-L" in argv:
        for index, (name, _, _) in enumerate(found):
            print(f"GPU {index}: {name} (UUID: GPU-{index:08d}-0000-0000-0000-000000000000)")
        return 0
    print("fake nvidia-smi: only -L and --query-gpu are implemented", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
