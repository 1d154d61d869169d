"""bindings.contract: how a BindingKind reads its config shape and checks its fields."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bindings.contract import BindingHost, BindingKind, BindingSpec, Field
from emulator import config_checks
from emulator.errors import ConfigError

FILE = Path("/w/wrangler.toml")


@pytest.mark.parametrize(
    ("shape", "value", "names"),
    [
        ("table", {"binding": "A"}, ["A"]),
        ("array", [{"binding": "A"}, {"binding": "B"}], ["A", "B"]),
        ("bindings", {"bindings": [{"binding": "A"}]}, ["A"]),
        ("producers", {"producers": [{"binding": "A"}], "consumers": []}, ["A"]),
        ("bindings", {}, []),
    ],
)
def test_each_shape_yields_its_specs(shape, value, names):
    kind = BindingKind("k", "K", shape=shape)
    specs = kind.specs(value, FILE, "k")
    assert [spec.name for spec in specs] == names
    assert all(spec.kind == "k" for spec in specs)


@pytest.mark.parametrize(
    ("shape", "value", "expected"),
    [
        ("array", {"binding": "A"}, "k: expected an array of tables ([[k]]), got a table"),
        ("table", [1], "k: expected a table, got an array"),
        ("bindings", {"bindings": 3}, "k.bindings: expected an array of tables, got 3"),
        ("array", [{"name": "A"}], "k[0].binding: required: the name in env"),
        ("array", [{"binding": 1}], "k[0].binding: expected a string, got 1"),
    ],
)
def test_shape_errors_name_the_key(shape, value, expected):
    with pytest.raises(ConfigError) as info:
        BindingKind("k", "K", shape=shape).specs(value, FILE, "k")
    assert str(info.value) == f"{FILE}: {expected}"


def test_optional_name_still_yields_a_spec():
    kind = BindingKind("assets", "Assets", shape="table", optional_name=True)
    [spec] = kind.specs({"directory": "public"}, FILE, "assets")
    assert spec == BindingSpec("assets", None, {"directory": "public"})


def test_declared_fields_are_checked_and_unknown_keys_warn(caplog):
    config_checks._warned.clear()
    kind = BindingKind("k", "K", fields={"id": Field(), "n": Field(int, "a number")})
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        [spec] = kind.specs([{"binding": "A", "id": "x", "remote": True, "extra": 1}], FILE, "k")
    assert spec.options["extra"] == 1  # kept: Wrangler warns and carries on
    assert "unknown key 'extra' in k[0]" in caplog.text and "remote" not in caplog.text
    with pytest.raises(ConfigError, match=r"k\[0\]\.n: expected a number, got true"):
        kind.specs([{"binding": "A", "n": True}], FILE, "k")


def test_value_label_is_the_first_option_set_else_local():
    kind = BindingKind("k", "K", value_keys=("name", "id"))
    assert kind.value_label(BindingSpec("k", "A", {"id": "i"})) == "i"
    assert kind.value_label(BindingSpec("k", "A", {"name": "n", "id": "i"})) == "n"
    assert kind.value_label(BindingSpec("k", "A", {})) == "local"
    assert not kind.emulated


async def test_host_shares_services_and_closes_them(tmp_path):
    closed = []

    class Service:
        async def close(self):
            closed.append(self)

    host = BindingHost(state_dir=tmp_path)
    first = host.shared("s", Service)
    assert host.shared("s", Service) is first and host.services() == {"s": first}
    await host.close()
    assert closed == [first] and host.services() == {}
