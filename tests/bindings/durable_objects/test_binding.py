"""The `durable_objects` binding kind: one registry row, the class check, config rules."""

from __future__ import annotations

import logging
import re

import pytest

from bindings import registry
from bindings.durable_objects import binding
from emulator.banner import binding_rows
from emulator.errors import ConfigError
from emulator.testing import load_worker
from emulator.worker import WorkerLoadError
from tests.bindings.durable_objects.conftest import CONFIG, write_worker

DO = "class Thing(DurableObject):\n    async def ping(self):\n        return 'pong'\n"


def test_the_kind_is_registered():
    assert registry.get("durable_objects") is binding.KIND
    assert "durable_objects" not in registry.PENDING


async def test_banner_row_names_the_class_and_backend(worker):
    loaded = worker(DO)
    [row] = binding_rows(loaded.config, loaded.worker.bound)
    assert (row.name, row.kind, row.value) == ("OBJ", "Durable Object", "Thing")
    assert row.detail and "SQLite storage at" in row.detail[0]


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("class Other(DurableObject):\n    pass\n", ""),
        ("class Thing:\n    pass\n", "does not subclass workers.DurableObject"),
    ],
)
def test_the_class_must_be_exported_by_the_entry_module(tmp_path, code, hint):
    write_worker(tmp_path, code)
    with pytest.raises(WorkerLoadError) as info:
        load_worker(tmp_path, persist_to=tmp_path / "state")
    assert ("Your Worker depends on the following Durable Objects, which are not exported in "
            "your entrypoint file: Thing.") in str(info.value)  # fmt: skip
    assert hint in str(info.value)


def test_a_deleted_class_cannot_be_bound(tmp_path):
    config = CONFIG.format(cls="Thing", backend="new_sqlite_classes") + (
        '[[migrations]]\ntag = "v2"\ndeleted_classes = ["Thing"]\n'
    )
    write_worker(tmp_path, DO, config=config)
    with pytest.raises(ConfigError, match="migrations\\[1\\]: class \"Thing\" is deleted here"):
        load_worker(tmp_path, persist_to=tmp_path / "state")


def test_environment_needs_script_name(tmp_path):
    config = CONFIG.format(cls="Thing", backend="new_sqlite_classes").replace(
        'class_name = "Thing"', 'class_name = "Thing"\nenvironment = "prod"'
    )
    write_worker(tmp_path, DO, config=config)
    expected = 'binding should have a "script_name" field if "environment" is present.'
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_worker(tmp_path, persist_to=tmp_path / "state")


async def test_without_migrations_wrangler_warns_and_storage_is_key_value(worker, caplog):
    config = CONFIG.format(cls="Thing", backend="x").split("[[migrations]]")[0]
    code = DO + "    async def sql(self):\n        return self.ctx.storage.sql.exec('SELECT 1')\n"
    with caplog.at_level(logging.WARNING):
        loaded = worker(code, config=config)
    assert "you have configured [durable_objects] exported by this Worker (Thing), but no " \
           "[migrations] for them" in caplog.text  # fmt: skip
    with pytest.raises(Exception, match="SQL is not enabled for this Durable Object class"):
        await loaded.env.OBJ.getByName("a").sql()


async def test_a_class_no_migration_creates_gets_a_warning(worker, caplog):
    config = CONFIG.format(cls="Other", backend="new_sqlite_classes").replace(
        'class_name = "Other"', 'class_name = "Thing"')
    with caplog.at_level(logging.WARNING):
        worker(DO, config=config)
    assert 'no [[migrations]] entry creates class "Thing"' in caplog.text


async def test_a_binding_to_another_worker_says_it_is_not_available(worker):
    config = CONFIG.format(cls="Thing", backend="new_sqlite_classes").replace(
        'class_name = "Thing"', 'class_name = "Remote"\nscript_name = "other-worker"')
    loaded = worker(DO, config=config)
    with pytest.raises(RuntimeError, match='"Remote" of script "other-worker" is not available'):
        loaded.env.OBJ.idFromName("x")


async def test_a_renamed_class_keeps_its_objects(worker, tmp_path):
    first = worker(DO + "    async def put(self):\n        await self.ctx.storage.put('k', 1)\n"
                   "        return str(self.ctx.id)\n")  # fmt: skip
    old_id = await first.env.OBJ.getByName("a").put()
    await first.close()
    config = CONFIG.format(cls="Thing", backend="new_sqlite_classes").replace(
        'class_name = "Thing"', 'class_name = "Renamed"'
    ) + '[[migrations]]\ntag = "v2"\nrenamed_classes = [{from = "Thing", to = "Renamed"}]\n'
    code = ("class Renamed(DurableObject):\n    async def get(self):\n"
            "        return [str(self.ctx.id), await self.ctx.storage.get('k')]\n")  # fmt: skip
    second = worker(code, config=config)
    assert await second.env.OBJ.getByName("a").get() == [old_id, 1]


async def test_state_lives_in_miniflares_layout(worker, tmp_path):
    loaded = worker(DO)
    assert loaded.env.OBJ.objects.folder == tmp_path / "state" / "v3" / "do" / "objects-Thing"
