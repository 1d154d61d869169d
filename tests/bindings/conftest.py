"""Fixtures shared by the binding tests."""

from __future__ import annotations

import pytest

from bindings.registry import BindingHost


@pytest.fixture
async def host(tmp_path):
    """A `BindingHost` on a fresh state folder (`tmp_path / "state"`), closed afterwards."""
    host = BindingHost(state_dir=tmp_path / "state")
    yield host
    await host.close()
