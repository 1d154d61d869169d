"""Static assets end to end through `edge dev` (a subprocess, real HTTP): the same
behaviour the in-process tests (tests/bindings/assets/) check through the plugin."""

from __future__ import annotations

import http.client
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.edge_dev import EdgeDev

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "workers" / "assets"


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """One server for the module; the test that edits files runs last."""
    site = tmp_path_factory.mktemp("e2e") / "assets"
    shutil.copytree(EXAMPLE, site, ignore=shutil.ignore_patterns("__pycache__", ".wrangler"))
    server = EdgeDev(str(site)).start()
    server.site = site
    yield server
    server.stop()


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET `path` byte for byte (httpx would normalise `..` and percent-escapes)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_site_api_and_banner(dev):
    home = dev.get("/")
    assert home.status_code == 200
    assert home.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Static assets on edge</h1>" in home.text
    assert home.headers["x-frame-options"] == "DENY"  # public/_headers

    css = dev.get("/style.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    etag = css.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = dev.get("/style.css", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""

    head = httpx.head(dev.url + "/app.js", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "text/javascript; charset=utf-8"

    assert dev.get("/api/hello?name=e2e").json()["message"] == "Hello, e2e!"
    about = dev.get("/about.html")
    assert (about.status_code, about.headers["location"]) == (307, "/about")
    missing = dev.get("/nowhere", headers={"sec-fetch-mode": "navigate"})
    assert missing.status_code == 404 and "Page not found" in missing.text

    out = dev.output()
    assert "env.ASSETS" in out and "Assets" in out
    assert "[wrangler:info] Ready on " + dev.url in out


@pytest.mark.parametrize(
    "path", ["/%2e%2e/wrangler.toml", "/..%2fwrangler.toml", "/..%5cwrangler.toml",
             "/../wrangler.toml", "/%00"],
)  # fmt: skip
def test_no_way_out_of_the_assets_folder(dev, path):
    status, body = raw_get(dev.url, path)
    assert b"assets-site" not in body  # wrangler.toml's content
    assert status in (400, 404)


def test_a_new_file_is_served_at_once_without_reimporting_the_worker(dev):
    assert dev.get("/fresh.txt").status_code == 404
    before = len(dev.output())
    (dev.site / "public" / "fresh.txt").write_text("just added")
    response = dev.get("/fresh.txt")
    assert response.status_code == 200 and response.text == "just added"
    (dev.site / "public" / "style.css").write_text("body { color: red; }")
    assert dev.get("/style.css").text == "body { color: red; }"
    assert "Reloaded" not in dev.output()[before:]


def test_rule_mistakes_are_named_at_start_up(tmp_path):
    site = tmp_path / "assets"
    shutil.copytree(EXAMPLE, site, ignore=shutil.ignore_patterns("__pycache__", ".wrangler"))
    (site / "public" / "_redirects").write_text("/a /b 404\n/c /d\n")
    dev = EdgeDev(str(site)).start()
    try:
        assert "assets _redirects line 1 ignored: valid status codes are" in dev.output()
        assert dev.get("/c").headers["location"] == "/d"
    finally:
        dev.stop()
