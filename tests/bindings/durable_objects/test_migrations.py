"""`[[migrations]]`: Wrangler's shape checks and the deploy-time ones, applied in order."""

from __future__ import annotations

import logging

import pytest

from bindings.durable_objects import migrations
from emulator.config import ConfigError, load_config


def config(tmp_path, body: str):
    (tmp_path / "entry.py").write_text("")
    (tmp_path / "wrangler.toml").write_text(
        'name = "w"\nmain = "entry.py"\ncompatibility_flags = ["python_workers"]\n' + body
    )
    return load_config(tmp_path)


def test_classes_their_backends_and_renames(tmp_path):
    found = migrations.read(config(tmp_path, """
[[migrations]]
tag = "v1"
new_classes = ["Old"]
new_sqlite_classes = ["Chat"]
[[migrations]]
tag = "v2"
renamed_classes = [{from = "Old", to = "Counter"}]
[[migrations]]
tag = "v3"
new_sqlite_classes = ["Temp"]
[[migrations]]
tag = "v4"
deleted_classes = ["Temp"]
"""))
    assert found.present and found.backend == {"Counter": "kv", "Chat": "sqlite"}
    assert found.origin == {"Counter": "Old", "Chat": "Chat"}
    assert found.deleted == {"Temp": "migrations[3]"}


def test_no_migrations(tmp_path):
    assert not migrations.read(config(tmp_path, "")).present


def test_environment_migrations_win(tmp_path):
    cfg = config(tmp_path, '[[migrations]]\ntag = "v1"\nnew_classes = ["A"]\n'
                           '[env.prod]\n[[env.prod.migrations]]\ntag = "p1"\n'
                           'new_sqlite_classes = ["A"]\n')  # fmt: skip
    assert migrations.read(cfg).backend == {"A": "kv"}
    cfg = load_config(tmp_path, env="prod")
    assert migrations.read(cfg).backend == {"A": "sqlite"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('migrations = "v1"', 'The optional "migrations" field should be an array, but got "v1"'),
        ('[[migrations]]\nnew_classes = ["A"]', '"migrations[0].tag" is a required field.'),
        ("[[migrations]]\ntag = 1", 'Expected "migrations[0].tag" to be of type string but got 1.'),
        ('[[migrations]]\ntag = "v1"\nnew_classes = "A"',
         'Expected "migrations[0].new_classes" to be an array of strings but got "A"'),
        ('[[migrations]]\ntag = "v1"\nnew_sqlite_classes = ["A", 2]',
         'Expected "migrations[0].new_sqlite_classes[1]" to be of type string but got 2.'),
        ('[[migrations]]\ntag = "v1"\nrenamed_classes = ["A"]',
         'Expected "migrations[0].renamed_classes" to be an array of "{from: string, to: '
         'string}" objects but got ["A"].'),
        ('[[migrations]]\ntag = "v1"\nnew_classes = ["A"]\n[[migrations]]\ntag = "v1"',
         'migrations[1].tag: "v1" is already the tag of migrations[0]'),
        ('[[migrations]]\ntag = "v1"\nnew_classes = ["A"]\n[[migrations]]\ntag = "v2"\n'
         'new_sqlite_classes = ["A"]', 'class "A" already exists'),
        ('[[migrations]]\ntag = "v1"\ndeleted_classes = ["A"]', 'class "A" does not exist'),
        ('[[migrations]]\ntag = "v1"\nrenamed_classes = [{from = "A", to = "B"}]',
         'class "A" does not exist, so it cannot be renamed'),
    ],
)  # fmt: skip
def test_mistakes_are_refused(tmp_path, body, message):
    with pytest.raises(ConfigError) as info:
        migrations.read(config(tmp_path, body + "\n"))
    assert message in str(info.value) and "wrangler.toml" in str(info.value)


def test_unknown_fields_warn_as_wrangler_does(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        migrations.read(config(tmp_path, '[[migrations]]\ntag = "v1"\nnew_klasses = ["A"]\n'))
    assert 'Unexpected fields found in migrations field: "new_klasses"' in caplog.text
