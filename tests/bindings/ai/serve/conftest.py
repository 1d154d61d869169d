"""A fake GPU host and a catalogue with the seeds plus test entries, for the serve tests."""

from __future__ import annotations

import pytest

from bindings.ai.catalogue import load_catalogue
from tests.support.fake_host import FakeHost, write_user_entries


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = FakeHost(tmp_path, monkeypatch)
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def catalogue(tmp_path_factory):
    return load_catalogue([write_user_entries(tmp_path_factory.mktemp("models"))])
