"""The asset worker: methods, conditional requests, caching headers, canonical paths,
`_redirects` and `_headers` applied, no-intent vs 404."""


async def test_etag_and_if_none_match_strong_or_weak(site):
    site.write({"a.css": "body{}"})
    first = site.get("/a.css")
    etag = first.headers.get("etag")
    for condition in (etag, f"W/{etag}"):
        again = site.get("/a.css", headers={"if-none-match": condition})
        assert again.status == 304 and await again.bytes() == b""
        assert again.headers.get("etag") == etag
    assert site.get("/a.css", headers={"if-none-match": '"other"'}).status == 200


async def test_head_has_the_headers_and_no_body(site):
    site.write({"a.txt": "12345"})
    response = site.get("/a.txt", method="HEAD")
    assert response.status == 200 and await response.bytes() == b""
    assert response.headers.get("content-length") == "5"
    assert response.headers.get("content-type") == "text/plain; charset=utf-8"


async def test_other_methods_on_an_asset_are_405(site):
    site.write({"index.html": "HOME"})
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert site.get("/", method=method).status == 405
    # no asset: no intent, the worker runs
    assert site.get("/api", method="POST", router=True) is None


def test_cache_control_is_left_out_for_authorized_or_range_requests(site):
    site.write({"a.txt": "x"})
    assert site.get("/a.txt").headers.get("cache-control") == "public, max-age=0, must-revalidate"
    assert site.get("/a.txt", headers={"authorization": "Bearer t"}).headers.get(
        "cache-control"
    ) is None
    assert site.get("/a.txt", headers={"range": "bytes=0-0"}).headers.get("cache-control") is None


async def test_paths_are_decoded_and_redirected_to_their_canonical_encoding(site):
    site.write({"café.txt": "CAFE", "[id].html": "ID"})
    assert await site.get("/caf%C3%A9.txt").text() == "CAFE"
    assert site.get("/%5Bid%5D").status == 200
    assert site.get("/[id]").headers.get("location") == "/%5Bid%5D"
    assert site.get("//caf%C3%A9.txt").headers.get("location") == "/caf%C3%A9.txt"


async def test_redirect_rules_come_before_assets(site):
    site.write({
        "_redirects": "/index.html /moved 301\n/go https://example.org/x?y=1\n"
                      "/users/:id /profile.html 200\n/gone /nothing 200\n",
        "index.html": "HOME", "profile.html": "PROFILE",
    })  # fmt: skip
    moved = site.get("/index.html?q=1")
    assert (moved.status, moved.headers.get("location")) == (301, "/moved?q=1")
    assert site.get("/go?z=2").headers.get("location") == "https://example.org/x?y=1"
    # a 200 rule rewrites to the asset (whose canonical path is /profile: 307 there)
    assert site.get("/users/7").headers.get("location") == "/profile"
    # a rewrite to nothing is a 404, never the worker
    gone = site.get("/gone", router=True)
    assert gone is not None and gone.status == 404


async def test_header_rules_apply_to_every_asset_response(site):
    site.write({
        "_headers": "/*\n  X-Frame-Options: DENY\n/a.txt\n  ! Cache-Control\n  X-A: 1\n",
        "a.txt": "A", "b.html": "B",
    })  # fmt: skip
    a = site.get("/a.txt")
    assert a.headers.get("x-frame-options") == "DENY" and a.headers.get("x-a") == "1"
    assert a.headers.get("cache-control") is None
    redirect = site.get("/b.html")
    assert redirect.status == 307 and redirect.headers.get("x-frame-options") == "DENY"
    missing = site.get("/missing")
    assert missing.status == 404 and missing.headers.get("x-frame-options") == "DENY"


def test_not_found_pages_answer_only_navigations_when_routing(site):
    site.write({"index.html": "APP"})
    spa = {"not_found_handling": "single-page-application"}
    assert site.get("/route", router=True, **spa) is None  # fetch() from a page: the worker
    nav = site.get("/route", headers={"sec-fetch-mode": "navigate"}, router=True, **spa)
    assert nav.status == 200
    # before 2025-04-01 (or with assets_navigation_has_no_effect) none does: the worker runs
    navigate = {"sec-fetch-mode": "navigate"}
    assert site.get("/route", headers=navigate, router=True, navigation_prefers_assets=False,
                    **spa) is None  # fmt: skip
    # env.ASSETS.fetch (not routing) always applies it
    assert site.get("/route", navigation_prefers_assets=False, **spa).status == 200
