"""`edge do list|dump` on the state a worker's Durable Objects stored."""

from __future__ import annotations

import json

from click.testing import CliRunner

from emulator.cli import main
from emulator.testing import load_worker
from tests.bindings.durable_objects.conftest import write_worker

CODE = """
import datetime

class Thing(DurableObject):
    async def fill(self):
        await self.ctx.storage.put({"n": 1, "blob": b"\\x00\\x01", "tags": {"a"},
                                    "when": datetime.datetime(2025, 1, 2, 3, 4, 5)})
        self.ctx.storage.sql.exec("CREATE TABLE t (v); INSERT INTO t VALUES (?)", "row")
"""


def cli(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


async def stored_worker(tmp_path):
    folder = write_worker(tmp_path / "w", CODE)
    loaded = load_worker(folder, persist_to=folder / ".wrangler" / "state")
    try:
        await loaded.env.OBJ.getByName("first").fill()
        return str(loaded.env.OBJ.idFromName("first"))
    finally:
        await loaded.close()


async def test_list_and_dump(tmp_path):
    key = await stored_worker(tmp_path)
    where = ["--cwd", str(tmp_path / "w")]
    code, out = cli("do", "list", "--binding", "OBJ", *where)
    assert code == 0
    [row] = json.loads(out)
    assert (row["id"], row["keys"], row["tables"], row["alarm"]) == (key, 4, ["t"], None)

    code, out = cli("do", "dump", "--binding", "Thing", "--name", "first", *where)
    assert code == 0
    assert json.loads(out) == {
        "id": key,
        "kv": {"blob": "AAE=", "n": 1, "tags": ["a"], "when": "2025-01-02T03:04:05"},
        "tables": {"t": [{"v": "row"}]},
        "alarm": None,
    }
    assert json.loads(cli("do", "dump", key, "--binding", "OBJ", *where)[1])["id"] == key


def test_mistakes_are_clear(tmp_path):
    write_worker(tmp_path, CODE)
    where = ["--cwd", str(tmp_path)]
    code, out = cli("do", "dump", "abc", "--binding", "OBJ", *where)
    assert code == 1 and "Invalid Durable Object ID: must be 64 hex digits" in out
    code, out = cli("do", "dump", "--binding", "OBJ", "--name", "nobody", *where)
    assert code == 1 and "no stored object" in out
    code, out = cli("do", "list", "--binding", "NOPE", *where)
    assert code == 1 and "no durable_objects binding 'NOPE'" in out and "OBJ (Thing)" in out
    code, out = cli("do", "dump", "--binding", "OBJ", *where)
    assert code == 2 and "exactly one of OBJECT_ID and --name" in out
