"""kill -9 at random instants during mixed KV / D1 / R2 / Durable Object writes, then count.

Each round starts a child (`writers.py`) on the same state folder, lets it write for a
random while and SIGKILLs it. Then the state is reopened (as `edge dev` would after a
crash) and every key is read: it must hold the last acknowledged value, or the value of
the one write in flight when the child died, and be readable whole. Reopening must leave
no orphan blob (a file no index row names) in any R2 bucket. Seeded and bounded: a
failure names its seed and round, and reruns the same way.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.faults.writers import KEYS_PER_WRITER, WRITERS, digest, opened

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("EDGE_FAULT_SEED", "20240611"))
ROUNDS = 6
WRITE_FOR = (0.2, 1.2)  # seconds of writing before the kill, drawn per round


class Ledger:
    """What the children acknowledged, per (writer, key): the last acknowledged digest,
    and the digest of a write begun after it (in flight when the child died)."""

    def __init__(self) -> None:
        self.acked: dict[tuple[str, str], str | None] = {}
        self.in_flight: dict[tuple[str, str], str | None] = {}
        self.acks = 0

    def record(self, lines: list[str]) -> None:
        begun: dict[int, dict] = {}
        for line in lines:
            verb, _, rest = line.partition(" ")
            if verb == "begin":
                op = json.loads(rest)
                begun[op["seq"]] = op
                self.in_flight[(op["writer"], op["key"])] = op["digest"]
            elif verb == "ack":
                op = begun.pop(int(rest))
                slot = (op["writer"], op["key"])
                self.acked[slot] = op["digest"]
                del self.in_flight[slot]
                self.acks += 1
        assert len(begun) <= 1, f"more than one write in flight: {begun}"

    def allowed(self, slot: tuple[str, str]) -> set[str | None]:
        allowed = {self.acked.get(slot)}  # never written: None
        if slot in self.in_flight:
            allowed.add(self.in_flight.pop(slot))  # resolved by this reopen
        return allowed


def run_round(state: Path, seed: int, rng: random.Random) -> tuple[list[str], int]:
    """One child, killed after a random while: its output lines and its exit status."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.writers", str(state), str(seed)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in child.stdout:
            if line.strip() == "ready":
                ready.set()
            else:
                lines.append(line.strip())
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "the child never started"
        time.sleep(rng.uniform(*WRITE_FOR))
        child.send_signal(signal.SIGKILL)
        status = child.wait(30)
        reader.join(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return [line for line in lines if line], status


async def check(state: Path, ledger: Ledger) -> dict[str, int]:
    """Reopen the state and count: acknowledged values present, lost, unreadable."""
    counts = {"intact": 0, "lost": 0, "unreadable": 0}
    problems = []
    async with opened(state) as env:
        for name, writer in WRITERS.items():
            for n in range(KEYS_PER_WRITER):
                slot = (name, f"{name}-{n}")
                allowed = ledger.allowed(slot)
                try:
                    found = digest(await writer.read(env, slot[1]))
                except Exception as exc:  # what the parent counts, whatever it is
                    counts["unreadable"] += 1
                    problems.append(f"{slot}: unreadable: {exc!r}")
                    continue
                if found not in allowed:
                    counts["lost"] += 1
                    problems.append(f"{slot}: holds {found}, acknowledged {allowed}")
                else:
                    counts["intact"] += 1
                ledger.acked[slot] = found
    counts["orphans"] = len(orphan_blobs(state))
    assert not problems, "\n".join(problems)
    return counts


def orphan_blobs(state: Path) -> list[str]:
    """Files in a bucket's blob folder that its index does not name."""
    orphans = []
    for index in (state / "v3" / "r2").glob("*/index.sqlite"):
        with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as conn:
            named = {row[0] for row in conn.execute(
                "SELECT blob FROM objects UNION SELECT blob FROM multipart_parts")}  # fmt: skip
        blobs = index.parent / "blobs"
        orphans += [p.name for p in blobs.iterdir() if p.name not in named]
    return orphans


async def test_kill9_loses_no_acknowledged_write(tmp_path):
    state = tmp_path / "state"
    rng = random.Random(SEED)
    ledger = Ledger()
    totals = {"acks": 0, "intact": 0, "lost": 0, "unreadable": 0, "orphans": 0}
    for round_ in range(ROUNDS):
        lines, status = run_round(state, SEED + round_, rng)
        assert status == -signal.SIGKILL, f"round {round_}: the child exited by itself"
        ledger.record(lines)
        counts = await check(state, ledger)
        for name, value in counts.items():
            totals[name] += value
        assert counts["orphans"] == 0, f"seed {SEED} round {round_}: {orphan_blobs(state)}"
    totals["acks"] = ledger.acks
    print(f"\nkill -9 x{ROUNDS} (seed {SEED}): {totals}")
    assert totals["lost"] == totals["unreadable"] == totals["orphans"] == 0
    # the children did write between the kills (few on a loaded machine, never none)
    assert ledger.acks >= ROUNDS, totals
