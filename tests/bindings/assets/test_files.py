"""The assets folder: what a path may name, content types, ETags, ignored files, changes."""

import os

import pytest

from bindings.assets.files import content_type


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("mod.mjs", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("data.json", "application/json"),
        ("logo.svg", "image/svg+xml"),
        ("module.wasm", "application/wasm"),
        ("font.woff2", "font/woff2"),
        ("font.woff", "font/woff"),
        ("photo.PNG", "image/png"),
        ("photo.jpg", "image/jpeg"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("site.webmanifest", "application/manifest+json"),
        ("favicon.ico", "image/vnd.microsoft.icon"),
        ("archive.unknownext", "application/octet-stream"),
        ("Makefile", "application/octet-stream"),
    ],
)
def test_content_types_are_cloudflares(name, expected):
    assert content_type(name) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
        "/sub/..%5c..%5csecret.txt",
        "/%00secret.txt",
        "/secret.txt%00.html",
        "/link/secret.txt",
        "/outside.txt",
    ],
)
async def test_nothing_outside_the_folder_is_reachable(site, tmp_path, path):
    (tmp_path / "secret.txt").write_text("SECRET")
    (site.root / "sub").mkdir()
    os.symlink(tmp_path, site.root / "link")
    os.symlink(tmp_path / "secret.txt", site.root / "outside.txt")
    response = site.get(path)
    assert response.status == 404 or response.status == 307
    assert "SECRET" not in await response.text()
    if response.status == 307:  # only the canonical form of a path inside the folder
        assert ".." not in response.headers.get("location").replace("%2E", ".")


async def test_a_symlink_inside_the_folder_is_served(site):
    site.write({"real/page.txt": "REAL"})
    os.symlink(site.root / "real", site.root / "alias")
    assert await site.get("/alias/page.txt").text() == "REAL"


async def test_configuration_files_and_assetsignore_patterns_are_not_served(site):
    site.write({
        "_headers": "/*\n  X-A: 1\n", "_redirects": "/a /b\n", ".assetsignore": "*.map\nprivate/\n",
        "app.js.map": "{}", "private/key.txt": "k", "app.js": "js",
    })  # fmt: skip
    for path in ("/_headers", "/_redirects", "/.assetsignore", "/app.js.map", "/private/key.txt"):
        assert site.get(path).status == 404, path
    assert site.get("/app.js").status == 200


async def test_etag_follows_the_content_and_files_change_without_a_reload(site):
    server = site.server()
    assert server.handle(_get("/new.txt")).status == 404
    site.write({"new.txt": "one"})
    first = server.handle(_get("/new.txt"))
    assert first.status == 200 and await first.text() == "one"
    site.write({"new.txt": "two, longer"})
    second = server.handle(_get("/new.txt"))
    assert await second.text() == "two, longer"
    assert second.headers.get("etag") != first.headers.get("etag")
    assert second.headers.get("etag").startswith('"') and second.headers.get("etag").endswith('"')
    (site.root / "new.txt").unlink()
    assert server.handle(_get("/new.txt")).status == 404


async def test_assetsignore_changes_apply_at_once(site):
    site.write({"draft.html": "D"})
    server = site.server()
    assert server.handle(_get("/draft")).status == 200
    site.write({".assetsignore": "draft.html\n"})
    assert server.handle(_get("/draft")).status == 404


def _get(path):
    from emulator.sdk import Request

    return Request(f"http://example.com{path}")
