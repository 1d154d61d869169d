"""Fixtures of the REST API tests: the app on loopback uvicorn, open and token-protected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bindings.ai.rest import create_app
from tests.bindings.ai.rest.support import TOKEN, scripted_service
from tests.fakes.loopback import LoopbackServer, serve


@pytest.fixture(scope="module")
def api_server() -> Iterator[LoopbackServer]:
    """The REST app on a free loopback port, no token required."""
    with serve(create_app(scripted_service())) as server:
        yield server


@pytest.fixture(scope="module")
def secured_server() -> Iterator[LoopbackServer]:
    """The REST app requiring `Authorization: Bearer TOKEN`."""
    with serve(create_app(scripted_service(), api_token=TOKEN)) as server:
        yield server
