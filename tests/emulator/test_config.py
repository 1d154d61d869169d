"""Loading wrangler.toml / wrangler.json(c), environments, secrets and overrides."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bindings import registry
from emulator import config_checks
from emulator.config import (
    ConfigError,
    find_config,
    load_config,
    parse_var_overrides,
)

BASIC = """
name = "my-worker"
main = "src/entry.py"
compatibility_date = "2024-09-23"
compatibility_flags = ["python_workers"]

[vars]
GREETING = "hello"
LIMITS = { max = 3 }

[ai]
binding = "AI"

[[kv_namespaces]]
binding = "CACHE"
id = "abc123"

[[d1_databases]]
binding = "DB"
database_name = "prod-db"
database_id = "d1-id"

[[r2_buckets]]
binding = "BUCKET"
bucket_name = "files"

[triggers]
crons = ["*/5 * * * *"]

[dev]
ip = "0.0.0.0"
port = 9000

[env.staging]
main = "src/entry.py"
[env.staging.vars]
GREETING = "staging hello"
[[env.staging.kv_namespaces]]
binding = "CACHE"
id = "staging-kv"

[env.named]
name = "explicit-name"
"""


def make_worker(tmp_path: Path, toml: str = BASIC, *, filename: str = "wrangler.toml") -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "entry.py").write_text("def on_fetch(request, env): ...\n")
    (tmp_path / filename).write_text(toml)
    return tmp_path


@pytest.fixture(autouse=True)
def _fresh_warnings():
    config_checks._warned.clear()
    yield
    config_checks._warned.clear()


def error_for(tmp_path: Path, toml: str, **kwargs) -> str:
    make_worker(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, **kwargs)
    return str(info.value)


def test_top_level_config(tmp_path):
    config = load_config(make_worker(tmp_path))
    assert config.name == "my-worker"
    assert config.file == (tmp_path / "wrangler.toml").resolve()
    assert config.root == tmp_path.resolve()
    assert config.main == (tmp_path / "src" / "entry.py").resolve()
    assert config.compatibility_date == "2024-09-23"
    assert config.compatibility_flags == ["python_workers"]
    assert config.vars == {"GREETING": "hello", "LIMITS": {"max": 3}}
    assert config.crons == ["*/5 * * * *"]
    assert (config.dev.ip, config.dev.port) == ("0.0.0.0", 9000)
    kinds = {spec.name: spec.kind for spec in config.bindings}
    assert kinds == {"AI": "ai", "CACHE": "kv_namespaces", "DB": "d1_databases",
                     "BUCKET": "r2_buckets"}  # fmt: skip
    kv = next(spec for spec in config.bindings if spec.name == "CACHE")
    assert kv.options["id"] == "abc123"
    assert config.env_name is None
    assert config.raw["name"] == "my-worker"


def test_env_inherits_top_level_keys_but_not_vars_or_bindings(tmp_path):
    config = load_config(make_worker(tmp_path), env="staging")
    assert config.name == "my-worker-staging"
    assert config.compatibility_date == "2024-09-23"
    assert config.compatibility_flags == ["python_workers"]
    assert config.crons == ["*/5 * * * *"]  # triggers are inheritable
    assert config.vars == {"GREETING": "staging hello"}
    assert [(s.kind, s.name, s.options["id"]) for s in config.bindings] == [
        ("kv_namespaces", "CACHE", "staging-kv")
    ]
    assert config.env_name == "staging"


def test_env_missing_bindings_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        load_config(make_worker(tmp_path), env="staging")
    text = caplog.text
    assert "[ai] exists at the top level but not in [env.staging]" in text
    assert "[r2_buckets]" in text
    assert "[kv_namespaces] exists" not in text


def test_env_with_own_name(tmp_path):
    config = load_config(make_worker(tmp_path), env="named")
    assert config.name == "explicit-name"
    assert config.vars == {}
    assert config.bindings == []


def test_unknown_env_lists_defined_ones(tmp_path):
    message = error_for(tmp_path, BASIC, env="prod")
    assert "'prod'" in message and "named, staging" in message
    assert "wrangler.toml" in message


def test_unknown_env_without_any_env_sections_uses_top_level(tmp_path, caplog):
    toml = 'name = "w"\nmain = "src/entry.py"\n[vars]\nA = "1"\n'
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        config = load_config(make_worker(tmp_path, toml), env="dev")
    assert config.vars == {"A": "1"}
    assert config.name == "w"
    assert "no [env.dev] section" in caplog.text


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            'main = "src/entry.py"\n[[kv_namespaces]]\nbinding = 42\nid = "x"\n',
            "wrangler.toml: kv_namespaces[0].binding: expected a string, got 42",
        ),
        (
            'main = "src/entry.py"\n[[kv_namespaces]]\nid = "x"\n',
            "kv_namespaces[0].binding: required",
        ),
        ('main = "src/entry.py"\nkv_namespaces = "x"\n', "kv_namespaces: expected an array"),
        ('main = "src/entry.py"\n[ai]\nbinding = true\n', "ai.binding: expected a string"),
        ('main = "src/entry.py"\nvars = 3\n', "vars: expected a table, got 3"),
        ('name = "w"\n', "main: required"),
        ('main = "src/missing.py"\n', "main: file not found"),
        ('main = "src/entry.js"\n', "main: expected a Python (.py) file"),
        ('main = "src/entry.py"\ncompatibility_date = 2024-01-01\n', "compatibility_date: exp"),
        ('main = "src/entry.py"\ncompatibility_flags = "python_workers"\n', "compatibility_flags"),
        ('main = "src/entry.py"\ncompatibility_flags = [1]\n', "compatibility_flags[0]: expected"),
        ('main = "src/entry.py"\n[triggers]\ncrons = "* * * * *"\n', "triggers.crons: expected"),
        ('main = "src/entry.py"\n[dev]\nport = "80"\n', "dev.port: expected a port number"),
        ('main = "src/entry.py"\n[dev]\nport = 70000\n', "dev.port: expected a port number"),
        ('name = "My Worker"\nmain = "src/entry.py"\n', "name: expected a Worker name"),
        (
            'main = "src/entry.py"\n[[r2_buckets]]\nbinding = "B"\nbucket_name = "My_Bucket"\n',
            "r2_buckets[0].bucket_name: expected a bucket name",
        ),
        (
            'main = "src/entry.py"\n[env.staging]\n[[env.staging.r2_buckets]]\nbinding = "B"\n'
            "bucket_name = 5\n",
            "env.staging.r2_buckets[0].bucket_name: expected a string, got 5",
        ),
    ],
)
def test_bad_config_names_file_key_and_expectation(tmp_path, toml, expected):
    env = "staging" if "env.staging" in toml else None
    assert expected in error_for(tmp_path, toml, env=env)


def test_toml_syntax_error_has_line_and_column(tmp_path):
    message = error_for(tmp_path, 'main = "src/entry.py"\nname = \n')
    assert "wrangler.toml" in message and "invalid TOML" in message
    assert "line 2" in message


def test_binding_names_must_be_identifiers(tmp_path):
    toml = 'main = "src/entry.py"\n[[kv_namespaces]]\nbinding = "MY-KV"\nid = "x"\n'
    assert "'MY-KV' is not a valid name" in error_for(tmp_path, toml)
    toml = 'main = "src/entry.py"\n[vars]\n"A B" = "x"\n'
    assert "vars.A B" in error_for(tmp_path, toml)


def test_binding_name_clash_is_an_error(tmp_path):
    toml = (
        'main = "src/entry.py"\n[vars]\nCACHE = "x"\n'
        '[[kv_namespaces]]\nbinding = "CACHE"\nid = "x"\n'
    )
    message = error_for(tmp_path, toml)
    assert "CACHE" in message and "vars" in message and "kv_namespaces" in message
    toml = (
        'main = "src/entry.py"\n[ai]\nbinding = "X"\n'
        '[[r2_buckets]]\nbinding = "X"\nbucket_name = "bkt"\n'
    )
    assert "name used twice" in error_for(tmp_path, toml)


def test_secret_clashing_with_binding_is_an_error(tmp_path):
    make_worker(tmp_path, 'main = "src/entry.py"\n[ai]\nbinding = "AI"\n')
    (tmp_path / ".dev.vars").write_text("AI=oops\n")
    with pytest.raises(ConfigError, match="AI"):
        load_config(tmp_path)


def test_unknown_binding_field_warns(tmp_path, caplog):
    toml = 'main = "src/entry.py"\n[[kv_namespaces]]\nbinding = "KV"\nid = "x"\nttl = 5\n'
    make_worker(tmp_path, toml)
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        load_config(tmp_path)
    assert "unknown key 'ttl' in kv_namespaces[0]" in caplog.text


def test_unknown_top_level_key_warns_once(tmp_path, caplog):
    toml = 'main = "src/entry.py"\nfrobnicate = 1\n'
    make_worker(tmp_path, toml)
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        load_config(tmp_path)
        load_config(tmp_path)
    assert caplog.text.count("unknown key 'frobnicate'") == 1


def test_known_wrangler_keys_do_not_warn(tmp_path, caplog):
    toml = (
        'name = "w"\nmain = "src/entry.py"\ncompatibility_flags = ["python_workers"]\n'
        'workers_dev = true\nroute = "example.com/*"\n[observability]\nenabled = true\n'
        '[[durable_objects.bindings]]\nname = "DO"\nclass_name = "Counter"\n'
        '[[queues.producers]]\nbinding = "Q"\nqueue = "jobs"\n'
        '[[services]]\nbinding = "OTHER"\nservice = "other-worker"\n'
        '[browser]\nbinding = "BROWSER"\n'
        '[[ratelimits]]\nname = "LIMITER"\nnamespace_id = "1001"\n'
    )
    make_worker(tmp_path, toml)
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        config = load_config(tmp_path)
    assert caplog.text == ""
    kinds = {spec.name: spec.kind for spec in config.bindings}
    assert kinds == {"DO": "durable_objects", "Q": "queues", "OTHER": "services",
                     "BROWSER": "browser", "LIMITER": "ratelimits"}  # fmt: skip
    assert all(registry.get(kind) is not None for kind in kinds.values())


def test_missing_python_workers_flag_warns(tmp_path, caplog):
    make_worker(tmp_path, 'main = "src/entry.py"\n')
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        load_config(tmp_path)
    assert "python_workers" in caplog.text


def test_defaults(tmp_path):
    config = load_config(make_worker(tmp_path, 'main = "src/entry.py"\n'))
    assert config.name == tmp_path.name.lower()
    assert (config.dev.ip, config.dev.port) == ("127.0.0.1", 8787)
    assert config.vars == {} and config.secrets == {} and config.bindings == []
    assert config.secrets_file is None


def test_json_and_jsonc(tmp_path):
    data = {
        "name": "json-worker",
        "main": "src/entry.py",
        "vars": {"A": "1"},
        "kv_namespaces": [{"binding": "KV", "id": "k"}],
    }
    make_worker(tmp_path, json.dumps(data), filename="wrangler.json")
    config = load_config(tmp_path)
    assert config.name == "json-worker" and config.vars == {"A": "1"}
    (tmp_path / "wrangler.json").unlink()
    jsonc = """{
      // a comment, with "quotes" and a comma,
      "name": "jsonc-worker", /* block
      comment */ "main": "src/entry.py",
      "vars": {"URL": "http://example.com/*not-a-comment*/", "B": "2",},
      "compatibility_flags": ["python_workers",],
    }"""
    make_worker(tmp_path, jsonc, filename="wrangler.jsonc")
    config = load_config(tmp_path)
    assert config.name == "jsonc-worker"
    assert config.vars == {"URL": "http://example.com/*not-a-comment*/", "B": "2"}


def test_jsonc_syntax_error_has_line_and_column(tmp_path):
    text = '{\n  // ok\n  "main": "src/entry.py"\n  "name": "x"\n}'
    make_worker(tmp_path, text, filename="wrangler.jsonc")
    with pytest.raises(ConfigError, match=r"invalid JSON at line 4, column 3"):
        load_config(tmp_path)


def test_find_config_prefers_json_and_searches_parents(tmp_path):
    make_worker(tmp_path, 'main = "src/entry.py"\n')
    (tmp_path / "wrangler.json").write_text('{"main": "src/entry.py"}')
    assert find_config(tmp_path) == (tmp_path / "wrangler.json").resolve()
    assert find_config(tmp_path / "src") == (tmp_path / "wrangler.json").resolve()
    assert find_config(tmp_path / "wrangler.toml") == (tmp_path / "wrangler.toml").resolve()


def test_path_may_be_the_entry_module(tmp_path):
    make_worker(tmp_path)
    (tmp_path / "src" / "other.py").write_text("")
    config = load_config(tmp_path / "src" / "other.py")
    assert config.main == (tmp_path / "src" / "other.py").resolve()
    assert config.file == (tmp_path / "wrangler.toml").resolve()  # found from a parent
    with pytest.raises(ConfigError, match="worker module not found"):
        load_config(tmp_path / "src" / "gone.py")


def test_a_non_config_file_is_refused(tmp_path):
    make_worker(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match="not a Wrangler configuration file"):
        load_config(tmp_path / "notes.txt")


def test_no_config_found(tmp_path):
    with pytest.raises(ConfigError, match="no Wrangler configuration"):
        load_config(tmp_path)


def test_explicit_config_file(tmp_path):
    make_worker(tmp_path, BASIC, filename="other.toml")
    config = load_config(tmp_path, config_file="other.toml")
    assert config.file.name == "other.toml"
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path, config_file="nope.toml")


def test_dev_vars_are_secrets_and_override_vars(tmp_path):
    make_worker(tmp_path)
    (tmp_path / ".dev.vars").write_text('API_KEY="s3cret"\n# comment\nGREETING=from-dev-vars\n')
    config = load_config(tmp_path)
    assert config.secrets == {"API_KEY": "s3cret", "GREETING": "from-dev-vars"}
    assert config.secrets_file == tmp_path / ".dev.vars"


def test_env_dev_vars_replace_the_generic_file(tmp_path):
    make_worker(tmp_path)
    (tmp_path / ".dev.vars").write_text("A=generic\nB=generic\n")
    (tmp_path / ".dev.vars.staging").write_text("A=staging\n")
    assert load_config(tmp_path, env="staging").secrets == {"A": "staging"}
    assert load_config(tmp_path, env="named").secrets == {"A": "generic", "B": "generic"}


def test_dot_env_files_merge_only_without_dev_vars(tmp_path):
    make_worker(tmp_path)
    (tmp_path / ".env").write_text("A=env\nB=env\nC=env\n")
    (tmp_path / ".env.staging").write_text("B=env-staging\n")
    (tmp_path / ".env.local").write_text("C=env-local\n")
    config = load_config(tmp_path, env="staging")
    assert config.secrets == {"A": "env", "B": "env-staging", "C": "env-local"}
    assert load_config(tmp_path).secrets == {"A": "env", "B": "env", "C": "env-local"}
    (tmp_path / ".dev.vars").write_text("D=dev\n")
    assert load_config(tmp_path).secrets == {"D": "dev"}
    assert tmp_path / ".env.staging" in load_config(tmp_path, env="staging").watched_files()


def test_secrets_required_filters_and_warns(tmp_path, caplog):
    make_worker(tmp_path, 'main = "src/entry.py"\n[secrets]\nrequired = ["A", "Z"]\n')
    (tmp_path / ".dev.vars").write_text("A=1\nB=2\n")
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        assert load_config(tmp_path).secrets == {"A": "1"}
    assert "Z" in caplog.text


def test_malformed_dev_vars_names_file_and_line(tmp_path):
    make_worker(tmp_path)
    (tmp_path / ".dev.vars").write_text("A=1\nthis is not a pair\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert ".dev.vars" in str(info.value) and "line 2" in str(info.value)


def test_var_overrides(tmp_path):
    overrides = parse_var_overrides(["GREETING:hi", "URL:http://x:1/y", "EMPTY:"])
    assert overrides == {"GREETING": "hi", "URL": "http://x:1/y", "EMPTY": ""}
    config = load_config(make_worker(tmp_path), var_overrides=overrides)
    assert config.vars["GREETING"] == "hi" and config.vars["URL"] == "http://x:1/y"
    assert config.vars["LIMITS"] == {"max": 3}


def test_var_flag_beats_dev_vars(tmp_path):
    make_worker(tmp_path)
    (tmp_path / ".dev.vars").write_text("GREETING=from-file\nTOKEN=t\n")
    config = load_config(tmp_path, var_overrides={"GREETING": "from-flag"})
    assert config.vars["GREETING"] == "from-flag"
    assert config.secrets == {"TOKEN": "t"}


@pytest.mark.parametrize("item", ["NOCOLON", ":value", "BAD-NAME:x"])
def test_bad_var_overrides(item):
    with pytest.raises(ConfigError, match="--var"):
        parse_var_overrides([item])


def test_watched_files(tmp_path):
    config = load_config(make_worker(tmp_path), env="staging")
    files = config.watched_files()
    assert config.file in files
    assert tmp_path.resolve() / ".dev.vars.staging" in files


def test_example_config_is_complete_and_loads(tmp_path, caplog):
    example = Path(__file__).resolve().parents[2] / "wrangler.toml.example"
    make_worker(tmp_path, example.read_text())
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        top = load_config(tmp_path)
        staging = load_config(tmp_path, env="staging")
    assert caplog.text == ""  # every key is known, every binding repeated in the env
    kinds = {spec.kind for spec in top.bindings}
    assert kinds == {
        "ai", "kv_namespaces", "d1_databases", "r2_buckets", "durable_objects", "assets"
    }
    assert top.vars and top.crons and top.compatibility_date
    assert {spec.kind for spec in staging.bindings} == kinds
    assert staging.name == f"{top.name}-staging" and staging.crons == top.crons


def test_every_recognised_binding_kind_has_a_label_and_a_shape():
    for kind in registry.all_kinds():
        assert kind.label and kind.shape in ("table", "array", "bindings", "producers")
        assert kind.emulated == (kind.kind in registry.KINDS)
    assert set(registry.KINDS).isdisjoint(registry.PENDING)
