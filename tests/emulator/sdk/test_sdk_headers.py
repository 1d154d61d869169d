import httpx
import pytest

from emulator.sdk import Headers


def test_case_insensitive_get_set_has_delete():
    h = Headers({"Content-Type": "text/plain", "X-A": " 1 "})
    assert h.get("content-type") == "text/plain"
    assert h.get("CONTENT-TYPE") == "text/plain"
    assert h.get("x-a") == "1"  # values are trimmed, as in Fetch
    assert h.has("X-a") and "x-A" in h
    h.set("x-a", "2")
    assert h.get("x-a") == "2"
    h.delete("X-A")
    assert not h.has("x-a")
    assert h.get("x-a") is None
    assert h["missing"] is None  # HTTPMessage-compatible item access


def test_multi_values_and_set_cookie():
    h = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("Accept", "x"), ("accept", "y")])
    assert h.get("accept") == "x, y"
    assert h.get_all("accept") == ["x", "y"]
    assert h.get_all("nope") is None
    assert h.getSetCookie() == ["a=1", "b=2"]
    # iteration: sorted names, repeats combined except set-cookie
    assert list(h) == [("accept", "x, y"), ("set-cookie", "a=1"), ("set-cookie", "b=2")]
    assert list(h.keys()) == ["accept", "set-cookie", "set-cookie"]
    # raw keeps insertion order and one pair per value, for the server
    assert h.raw() == [
        (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"accept", b"x"), (b"accept", b"y")
    ]


def test_set_replaces_all_and_keeps_position():
    h = Headers([("a", "1"), ("b", "2"), ("a", "3")])
    h.set("A", "9")
    assert h.raw() == [(b"a", b"9"), (b"b", b"2")]


def test_constructible_from_headers_pairs_dict_and_httpx():
    base = Headers({"x": "1"})
    copy = Headers(base)
    copy.append("x", "2")
    assert base.get("x") == "1"  # a copy, not a view
    assert copy.get("x") == "1, 2"
    hx = httpx.Headers([("x", "1"), ("x", "2")])
    assert Headers(hx).get_all("x") == ["1", "2"]
    assert dict(Headers({"B": "2", "a": "1"})) == {"a": "1", "b": "2"}


@pytest.mark.parametrize(
    "init",
    ["a: b", 5, [("only-one",)], [("bad name", "v")], {"x": "a\r\nb"}, {"x": object()}],
)
def test_bad_input_is_a_type_error(init):
    with pytest.raises(TypeError):
        Headers(init)


def test_invalid_names_and_values_rejected_on_mutation():
    h = Headers()
    with pytest.raises(TypeError, match="Invalid header name"):
        h.append("x y", "1")
    with pytest.raises(TypeError, match="Invalid header value"):
        h.set("x", "a\nb")
    assert not h  # nothing was added


def test_from_raw_trusted_asgi_pairs():
    h = Headers.from_raw([(b"host", b"example.com"), (b"x", b"\xe9")])
    assert h.get("host") == "example.com"
    assert h.get("x") == "\xe9"
    assert h.raw()[1] == (b"x", b"\xe9")
