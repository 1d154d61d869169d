"""html_handling and not_found_handling: the tables of Cloudflare's docs
(https://developers.cloudflare.com/workers/static-assets/routing/advanced/html-handling/)."""

import pytest

FILES = {"file.html": "FILE", "folder/index.html": "FOLDER", "index.html": "HOME"}

# (request, status, served body or redirect location), per mode
TABLES = {
    "auto-trailing-slash": [
        ("/file", 200, "FILE"), ("/file.html", 307, "/file"), ("/file/", 307, "/file"),
        ("/file/index", 307, "/file"), ("/file/index.html", 307, "/file"),
        ("/folder", 307, "/folder/"), ("/folder.html", 307, "/folder/"),
        ("/folder/", 200, "FOLDER"), ("/folder/index", 307, "/folder/"),
        ("/folder/index.html", 307, "/folder/"), ("/", 200, "HOME"),
        ("/index.html", 307, "/"), ("/index", 307, "/"),
    ],
    "force-trailing-slash": [
        ("/file", 307, "/file/"), ("/file.html", 307, "/file/"), ("/file/", 200, "FILE"),
        ("/file/index", 307, "/file/"), ("/file/index.html", 307, "/file/"),
        ("/folder", 307, "/folder/"), ("/folder.html", 307, "/folder/"),
        ("/folder/", 200, "FOLDER"), ("/folder/index", 307, "/folder/"),
        ("/folder/index.html", 307, "/folder/"), ("/", 200, "HOME"),
    ],
    "drop-trailing-slash": [
        ("/file", 200, "FILE"), ("/file.html", 307, "/file"), ("/file/", 307, "/file"),
        ("/file/index", 307, "/file"), ("/file/index.html", 307, "/file"),
        ("/folder", 200, "FOLDER"), ("/folder.html", 307, "/folder"),
        ("/folder/", 307, "/folder"), ("/folder/index", 307, "/folder"),
        ("/folder/index.html", 307, "/folder"), ("/", 200, "HOME"),
        ("/index.html", 307, "/"),
    ],
    "none": [
        ("/file", 404, ""), ("/file.html", 200, "FILE"), ("/file/", 404, ""),
        ("/folder", 404, ""), ("/folder/", 404, ""), ("/folder/index.html", 200, "FOLDER"),
        ("/", 404, ""), ("/index.html", 200, "HOME"),
    ],
}  # fmt: skip
CASES = [(mode, *row) for mode, rows in TABLES.items() for row in rows]


@pytest.mark.parametrize(("mode", "path", "status", "expected"), CASES)
async def test_the_documented_tables(site, mode, path, status, expected):
    site.write(FILES)
    response = site.get(path, html_handling=mode)
    assert response.status == status
    if status == 307:
        assert response.headers.get("location") == expected
    else:
        assert await response.text() == expected


async def test_a_redirect_keeps_the_query_string(site):
    site.write(FILES)
    response = site.get("/file.html?a=1&b=2")
    assert response.headers.get("location") == "/file?a=1&b=2"


async def test_a_file_beats_a_folder_and_never_redirects_to_another_page(site):
    site.write({"both.html": "PAGE", "both/index.html": "INDEX"})
    assert await site.get("/both").text() == "PAGE"
    assert await site.get("/both/").text() == "INDEX"
    # /both.html would redirect to /both, which serves the same file: it does
    assert site.get("/both.html").headers.get("location") == "/both"
    # /both/index.html would go to /both/, serving the same file
    assert site.get("/both/index.html").headers.get("location") == "/both/"


async def test_files_without_extension_are_served_as_they_are(site):
    site.write({"bin": b"\x00\x01", "index": b"raw"})
    response = site.get("/bin")
    assert response.status == 200 and await response.bytes() == b"\x00\x01"
    assert response.headers.get("content-type") == "application/octet-stream"
    assert await site.get("/index").bytes() == b"raw"


async def test_single_page_application_serves_index_for_any_missing_path(site):
    site.write({"index.html": "APP", "app.js": "js"})
    response = site.get("/some/client/route", not_found_handling="single-page-application")
    assert response.status == 200 and await response.text() == "APP"
    assert await site.get("/app.js", not_found_handling="single-page-application").text() == "js"


async def test_404_page_is_the_nearest_one_up_the_tree(site):
    site.write({"404.html": "TOP", "blog/404.html": "BLOG", "blog/post.html": "POST"})
    deep = site.get("/blog/2024/missing", not_found_handling="404-page")
    assert deep.status == 404 and await deep.text() == "BLOG"
    top = site.get("/missing", not_found_handling="404-page")
    assert top.status == 404 and await top.text() == "TOP"
    assert await site.get("/blog/post", not_found_handling="404-page").text() == "POST"


async def test_without_a_404_page_nothing_is_found(site):
    site.write({"index.html": "HOME"})
    response = site.get("/missing", not_found_handling="404-page")
    assert response.status == 404 and await response.text() == ""
