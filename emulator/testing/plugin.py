"""The pytest plugin (entry point `pytest11: edge`): fixtures for testing workers in-process.

    async def test_hello(edge_worker):
        worker = edge_worker()            # the nearest wrangler file above this test file
        response = await worker.fetch("/")
        assert await response.text() == "Hello, world!"

    async def test_chat(edge_worker, ai_script):
        ai_script.set("@hf/thebloke/llama-2-13b-chat-awq", "Hi!")
        response = await edge_worker().fetch("/", json={"messages": [...]})
        assert ai_script.last_call.messages[-1]["content"] == ...

Fixtures: `edge_worker` (factory: `edge_worker(path=None, **load_worker options)`, the
workers are closed after the test, their deferred `wait_until` failures raised), and
`ai_script` (the `AiScript` those workers' `env.AI` answers from, fresh per test), and
`edge_ai` (switch a test to the real embedded model: parametrize it with "llama"). State
goes to a fresh folder per test; nothing is shared between tests, so `pytest -n` works.
`@pytest.mark.edge_worker(path, **options)` sets a test's (or module's) defaults.

Registered for every pytest run in an environment where edge is installed, so importing
this module must stay cheap and must not fail: edge itself is imported by the fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

try:  # async teardown needs it; the fixtures degrade to sync teardown without it
    import pytest_asyncio
except ImportError:  # pragma: no cover - pytest-asyncio is in edge's test extra
    pytest_asyncio = None

CONFIG_NAMES = ("wrangler.toml", "wrangler.json", "wrangler.jsonc")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "edge_worker(path=None, **options): defaults for the edge_worker fixture "
        "(options as emulator.testing.load_worker takes them)",
    )


def find_worker(start: Path) -> Path:
    """The nearest folder at or above `start` holding a wrangler file."""
    for folder in (start, *start.parents):
        if any((folder / name).is_file() for name in CONFIG_NAMES):
            return folder
    raise FileNotFoundError(
        f"no wrangler.toml / wrangler.json(c) at or above {start}; "
        "pass the worker's folder: edge_worker('path/to/worker')"
    )


def _resolve(path: str | Path | None, test_dir: Path) -> Path:
    if path is None:
        return find_worker(test_dir)
    path = Path(path)
    if not path.is_absolute() and (test_dir / path).exists():
        return test_dir / path
    return path


def _factory(
    request: pytest.FixtureRequest, script: Any, ai: Any, opened: list[Any]
) -> Callable[..., Any]:
    from emulator.testing.harness import load_worker

    test_dir = Path(str(request.path)).parent
    marker = request.node.get_closest_marker("edge_worker")
    defaults: dict[str, Any] = dict(marker.kwargs) if marker else {}
    default_path = marker.args[0] if marker and marker.args else defaults.pop("path", None)

    def edge_worker(path: str | Path | None = None, **options: Any) -> Any:
        __tracebackhide__ = True
        merged = {**defaults, **options}
        merged.setdefault("ai", script if ai in (None, "script") else ai)
        if "persist_to" not in merged:
            factory = request.getfixturevalue("tmp_path_factory")
            merged["persist_to"] = factory.mktemp("edge-state")
        worker = load_worker(_resolve(path or default_path, test_dir), **merged)
        opened.append(worker)
        return worker

    return edge_worker


@pytest.fixture
def edge_ai(request: pytest.FixtureRequest) -> Any:
    """What answers `env.AI` in `edge_worker()`s by default: None or "script" (the
    `ai_script` fixture), "llama" (the embedded model), or any `load_worker(ai=...)` value.
    Switch per test with `@pytest.mark.parametrize("edge_ai", ["script", "llama"],
    indirect=True)`, or override this fixture in a conftest.py."""
    return getattr(request, "param", None)


@pytest.fixture
def ai_script() -> Any:
    """The scripted Workers AI of this test's workers: `ai_script.set(model, reply)`,
    `ai_script.calls` (see `emulator.testing.AiScript`)."""
    from emulator.testing.ai_script import AiScript

    return AiScript()


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def edge_worker(
        request: pytest.FixtureRequest, ai_script: Any, edge_ai: Any
    ) -> AsyncIterator[Callable[..., Any]]:
        """Factory: `edge_worker(path=None, **options)` -> a loaded `TestWorker`."""
        opened: list[Any] = []
        yield _factory(request, ai_script, edge_ai, opened)
        await _close_all(opened)

else:  # pragma: no cover

    @pytest.fixture
    def edge_worker(
        request: pytest.FixtureRequest, ai_script: Any, edge_ai: Any
    ) -> Iterator[Any]:
        """Factory: `edge_worker(path=None, **options)` -> a loaded `TestWorker`."""
        import asyncio

        opened: list[Any] = []
        yield _factory(request, ai_script, edge_ai, opened)
        asyncio.run(_close_all(opened))


async def _close_all(workers: list[Any]) -> None:
    __tracebackhide__ = True
    errors: list[BaseException] = []
    for worker in workers:
        try:
            await worker.close()
        except Exception as exc:  # every worker still gets closed
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ExceptionGroup("closing the test workers failed", errors)
