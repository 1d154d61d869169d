"""`js.URL` / `js.URLSearchParams` against the WHATWG URL parts workers read."""

from __future__ import annotations

import pytest

from emulator.ffi.url import JsURL, JsURLSearchParams
from emulator.ffi.values import JsException


def test_components():
    url = JsURL("HTTPS://User:pw@Example.COM:443/a b?x=1&y=2#frag")
    assert url.protocol == "https:"
    assert url.hostname == "example.com" and url.port == "" and url.host == "example.com"
    assert url.pathname == "/a%20b"
    assert url.search == "?x=1&y=2" and url.hash == "#frag"
    assert url.origin == "https://example.com"
    assert (url.username, url.password) == ("User", "pw")
    assert url.href == "https://User:pw@example.com/a%20b?x=1&y=2#frag"
    assert JsURL("http://h:8080").host == "h:8080" and JsURL("http://h").pathname == "/"


def test_relative_setters_and_search_params():
    url = JsURL("../c?q=1", "https://x.dev/a/b/")
    assert url.href == "https://x.dev/a/c?q=1"
    url.searchParams.append("r", "a b")
    assert url.search == "?q=1&r=a+b"
    url.searchParams.set("q", "2")
    assert url.searchParams.get("q") == "2" and url.searchParams.getAll("r") == ["a b"]
    url.pathname = "z"
    url.search = ""
    assert url.href == "https://x.dev/z"
    assert not url.searchParams.has("q")


def test_invalid_urls_are_type_errors():
    with pytest.raises(JsException, match="Invalid URL"):
        JsURL("/relative")
    with pytest.raises(JsException, match="Invalid URL"):
        JsURL("http://")
    assert JsURL.canParse("/x", "https://a.b") and not JsURL.canParse("nope")


def test_search_params_init_forms():
    assert JsURLSearchParams("?a=1&a=2").getAll("a") == ["1", "2"]
    assert JsURLSearchParams({"a": "1"}).toString() == "a=1"
    pairs = JsURLSearchParams([("b", "2"), ("a", "1")])
    assert [list(p) for p in pairs] == [["b", "2"], ["a", "1"]]
