"""Testing a static site with an API in-process with edge's pytest plugin (`pytest
examples/workers/assets`): assets are served before the worker, as on Cloudflare."""

NAVIGATE = {"sec-fetch-mode": "navigate"}


async def test_pages_are_served_at_their_canonical_paths(edge_worker):
    worker = edge_worker()
    home = await worker.fetch("/")
    assert home.status == 200
    assert home.headers.get("content-type") == "text/html; charset=utf-8"
    assert "<h1>Static assets on edge</h1>" in await home.text()

    about = await worker.fetch("/about")
    assert about.status == 200 and "<h1>About</h1>" in await about.text()
    # the file name redirects to the canonical path (html_handling = auto-trailing-slash)
    old = await worker.fetch("/about.html")
    assert (old.status, old.headers.get("location")) == (307, "/about")


async def test_static_files_carry_types_etags_and_headers_rules(edge_worker):
    worker = edge_worker()
    css = await worker.fetch("/style.css")
    assert css.headers.get("content-type") == "text/css; charset=utf-8"
    assert css.headers.get("cache-control") == "public, max-age=3600"  # from public/_headers
    assert css.headers.get("x-frame-options") == "DENY"
    js = await worker.fetch("/app.js")
    assert js.headers.get("content-type") == "text/javascript; charset=utf-8"
    assert js.headers.get("cache-control") == "public, max-age=0, must-revalidate"

    again = await worker.fetch("/app.js", headers={"if-none-match": js.headers.get("etag")})
    assert again.status == 304 and await again.text() == ""


async def test_api_routes_run_the_worker_first(edge_worker):
    worker = edge_worker()
    hello = await worker.fetch("/api/hello?name=pytest")
    assert await hello.json() == {"message": "Hello, pytest!", "site": "edge assets example"}
    missing = await worker.fetch("/api/nope")
    assert missing.status == 404 and await missing.json() == {"error": "no API route /api/nope"}
    # the `!/api/docs/*` pattern keeps the docs static
    docs = await worker.fetch("/api/docs/")
    assert docs.status == 200 and "<h1>API</h1>" in await docs.text()


async def test_the_worker_reads_assets_through_its_binding(edge_worker):
    worker = edge_worker()
    found = await (await worker.fetch("/api/asset?path=/style.css")).json()
    assert found["status"] == 200
    assert found["content_type"] == "text/css; charset=utf-8"
    assert found["bytes"] > 0
    missing = await (await worker.fetch("/api/asset?path=/nope")).json()
    assert missing["status"] == 404  # env.ASSETS applies not_found_handling: 404.html


async def test_missing_pages_get_the_404_page_when_navigated_to(edge_worker):
    worker = edge_worker()
    page = await worker.fetch("/no/such/page", headers=NAVIGATE)
    assert page.status == 404 and "Page not found" in await page.text()
    # a script's fetch() of a missing path reaches the worker instead
    fetched = await worker.fetch("/no/such/page")
    assert fetched.status == 404 and await fetched.text() == "Not found"


async def test_redirect_rules(edge_worker):
    worker = edge_worker()
    home = await worker.fetch("/home?from=bookmark")
    assert (home.status, home.headers.get("location")) == (301, "/?from=bookmark")
    docs = await worker.fetch("/docs/intro")
    assert (docs.status, docs.headers.get("location")) == (302, "/api/docs/intro")
