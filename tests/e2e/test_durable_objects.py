"""Durable Objects under a real `edge dev` process: state across hot reloads and
restarts, and an alarm set before a restart firing after it (the counter example,
copied to tmp_path so edits never touch the repository)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.support.edge_dev import EdgeDev, poll

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "workers" / "counter"


@pytest.fixture
def counter(tmp_path):
    root = tmp_path / "counter"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", ".wrangler"))
    procs: list[EdgeDev] = []

    def start() -> EdgeDev:
        proc = EdgeDev(str(root), "--persist-to", str(tmp_path / "state"))
        procs.append(proc)
        return proc.start()

    yield root, start
    for proc in procs:
        proc.stop()


def test_state_survives_reloads_and_restarts(counter):
    root, start = counter
    dev = start()
    assert dev.post("/counters/a/increment?by=3").json() == {"name": "a", "value": 3}
    assert dev.post("/counters/a/increment").json()["value"] == 4
    dev.wait_for(r"COUNTER\s+Durable Object\s+Counter")  # the banner row

    entry = root / "src" / "entry.py"
    entry.write_text(entry.read_text().replace('{"name": name, "value": await counter.value()}',
                                               '{"name": name, "now": await counter.value()}'))
    reloaded = poll(lambda: dev.get("/counters/a"), lambda r: "now" in r.json())
    assert reloaded.json() == {"name": "a", "now": 4}  # new code, same object storage

    armed = time.monotonic()
    assert dev.post("/counters/a/expire?seconds=4").status_code == 200
    dev.stop()
    assert time.monotonic() - armed < 4, "stopped too late to tell where the alarm ran"
    dev = start()  # a restart before the alarm is due
    expired = poll(lambda: dev.get("/counters/a"), lambda r: r.json()["now"] == 0)
    assert expired.json()["now"] == 0  # the alarm fired in the new process
    assert dev.get("/counters/a/raw").json()["value"] == 0


def test_object_errors_are_the_error_page(counter):
    root, start = counter
    entry = root / "src" / "entry.py"
    entry.write_text(entry.read_text().replace(
        "    async def value(self):\n",
        "    async def value(self):\n        raise ValueError('counter is broken')\n"))
    dev = start()
    response = dev.get("/counters/x", headers={"accept": "application/json"})
    assert response.status_code == 500 and "counter is broken" in response.text
