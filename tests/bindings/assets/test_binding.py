"""`[assets]` through the public API: config errors, routing around the worker, the
`env.ASSETS` binding and its banner row, identical in-process and under `edge dev`
(tests/e2e/test_assets.py)."""

from pathlib import Path

import pytest

from emulator import loader
from emulator.banner import binding_rows
from emulator.config import load_config
from emulator.errors import ConfigError
from emulator.testing import load_worker
from tests.bindings.assets.conftest import write_files

WORKER = """
from workers import Request, Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.url.endswith("/via-binding"):
            return await self.env.ASSETS.fetch(request.url.replace("/via-binding", "/a.txt"))
        if request.url.endswith("/wrapped"):
            inner = await self.env.ASSETS.fetch(Request(request.url.replace("/wrapped", "/")))
            return Response("worker saw: " + await inner.text())
        return Response("worker: " + request.url.split("/", 3)[3])
"""


def make_site(tmp_path: Path, assets: str, files: dict | None = None, date="2025-06-01") -> Path:
    write_files(tmp_path, {
        "entry.py": WORKER,
        "wrangler.toml": f'name = "site"\nmain = "entry.py"\ncompatibility_date = "{date}"\n'
                         f'compatibility_flags = ["python_workers"]\n[assets]\n{assets}\n',
        **{f"public/{k}": v for k, v in (files or {"index.html": "HOME", "a.txt": "A"}).items()},
    })  # fmt: skip
    return tmp_path


async def fetch_text(worker, path, **kwargs):
    response = await worker.fetch(path, **kwargs)
    return response.status, await response.text()


async def test_assets_first_then_the_worker(tmp_path):
    async with load_worker(make_site(tmp_path, 'directory = "public"')) as worker:
        assert await fetch_text(worker, "/") == (200, "HOME")
        assert await fetch_text(worker, "/a.txt") == (200, "A")
        assert await fetch_text(worker, "/other") == (200, "worker: other")
        assert "ASSETS" not in worker.env  # no `binding`: served, but not in env


async def test_run_worker_first_true_sends_everything_to_the_worker(tmp_path):
    site = make_site(tmp_path, 'directory = "public"\nbinding = "ASSETS"\nrun_worker_first = true')
    async with load_worker(site) as worker:
        assert await fetch_text(worker, "/a.txt") == (200, "worker: a.txt")
        assert await fetch_text(worker, "/wrapped") == (200, "worker saw: HOME")


async def test_run_worker_first_patterns(tmp_path):
    site = make_site(
        tmp_path, 'directory = "public"\nbinding = "ASSETS"\n'
        'run_worker_first = ["/api/*", "!/api/static/*"]',
        {"api/data.json": "{}", "api/static/s.txt": "S", "x.txt": "X"},
    )  # fmt: skip
    async with load_worker(site) as worker:
        assert await fetch_text(worker, "/api/data.json") == (200, "worker: api/data.json")
        assert await fetch_text(worker, "/api/static/s.txt") == (200, "S")
        assert (await worker.fetch("/api/static/none")).status == 404  # assets, never the worker
        assert await fetch_text(worker, "/x.txt") == (200, "X")
        assert await fetch_text(worker, "/y") == (200, "worker: y")


async def test_env_binding_fetch_takes_a_url_or_a_request(tmp_path):
    site = make_site(tmp_path, 'directory = "public"\nbinding = "ASSETS"\nrun_worker_first = true')
    async with load_worker(site) as worker:
        assert await fetch_text(worker, "/via-binding") == (200, "A")
        direct = await worker.env.ASSETS.fetch("http://localhost/nope")
        assert direct.status == 404
        with pytest.raises(TypeError, match="takes a Request"):
            await worker.env.ASSETS.fetch(42)


async def test_spa_navigation_and_compatibility_date(tmp_path):
    spa = 'directory = "public"\nnot_found_handling = "single-page-application"'
    async with load_worker(make_site(tmp_path / "new", spa)) as worker:
        assert await fetch_text(worker, "/route") == (200, "worker: route")
        nav = await fetch_text(worker, "/route", headers={"sec-fetch-mode": "navigate"})
        assert nav == (200, "HOME")
    # before 2025-04-01 a miss always runs the worker (the page is env.ASSETS's to give)
    async with load_worker(make_site(tmp_path / "old", spa, date="2024-09-23")) as worker:
        nav = await fetch_text(worker, "/route", headers={"sec-fetch-mode": "navigate"})
        assert nav == (200, "worker: route")


@pytest.mark.parametrize(
    ("assets", "key", "message"),
    [
        ('directory = "missing"', "assets.directory", 'The directory specified by the '
         '"assets.directory" field in your configuration file does not exist'),
        ('binding = "ASSETS"', "assets.directory", "required"),
        ('directory = "public"\nhtml_handling = "auto"', "assets.html_handling", "one of"),
        ('directory = "public"\nnot_found_handling = "spa"', "assets.not_found_handling",
         "one of"),
        ('directory = "public"\nrun_worker_first = "yes"', "assets.run_worker_first",
         "a boolean or an array"),
        ('directory = "public"\nrun_worker_first = ["api/*"]', "assets.run_worker_first",
         "rules must start with '/' or '!/'"),
    ],
)  # fmt: skip
async def test_config_errors_name_the_key(tmp_path, assets, key, message):
    with pytest.raises(ConfigError) as caught:
        async with load_worker(make_site(tmp_path, assets)):
            pass
    assert key in str(caught.value) and message in str(caught.value)


def test_banner_row_for_the_binding(tmp_path):
    site = make_site(tmp_path, 'directory = "public"\nbinding = "ASSETS"')
    config = load_config(site)
    worker = loader.load(config, loader.host_for(config, tmp_path / "state", environ={}))
    [row] = [r for r in binding_rows(config, worker.bound) if r.kind == "Assets"]
    assert (row.name, row.value) == ("ASSETS", "public")
    assert row.detail == [f"{(site / 'public').resolve()} (assets first)"]
