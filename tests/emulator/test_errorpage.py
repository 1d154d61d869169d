"""The 500 page: exception chains, frame trimming, formats by Accept."""

from __future__ import annotations

import json

import pytest

from emulator import errorpage


def _raise_chain() -> BaseException:
    try:
        try:
            {}["missing"]
        except KeyError as exc:
            raise ValueError("lookup failed") from exc
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def test_describe_lists_the_chain_cause_first_with_source_context():
    chain = errorpage.describe(_raise_chain())
    assert [(info.type, info.relation) for info in chain] == [
        ("KeyError", "cause"),
        ("ValueError", ""),
    ]
    frame = chain[-1].frames[-1]
    assert frame.name == "_raise_chain" and frame.filename.endswith("test_errorpage.py")
    assert frame.lineno in {n for n, _ in frame.context}
    assert not frame.library


def test_html_escapes_and_shows_both_exceptions():
    page = errorpage.html(_raise_chain(), method="POST", url="http://h/p?q=<x>")
    assert "lookup failed" in page and "KeyError" in page
    assert "direct cause of the following exception" in page
    assert "q=&lt;x&gt;" in page and "q=<x>" not in page


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        ("text/html,application/xhtml+xml", "text/html"),
        ("application/json", "application/json"),
        ("*/*", "text/plain"),
        ("", "text/plain"),
    ],
)
def test_render_chooses_the_format_from_accept(accept, kind):
    status, content_type, body = errorpage.render(
        _raise_chain(), method="GET", url="http://h/", accept=accept
    )
    assert status == 500 and content_type.startswith(kind)
    if kind == "application/json":
        data = json.loads(body)
        assert data["error"] == {"type": "ValueError", "message": "lookup failed"}
        assert [c["type"] for c in data["chain"]] == ["KeyError", "ValueError"]
    if kind == "text/plain":
        assert body.decode().startswith("GET http://h/") and b"ValueError: lookup failed" in body


def test_trim_internal_starts_at_the_workers_code():
    from emulator.sdk import Response

    try:
        Response({"a": 1})  # raises inside the emulator's SDK, called from here
    except TypeError as exc:
        error = exc
    files = [f.filename for f in errorpage.describe(errorpage.trim_internal(error))[-1].frames]
    assert files[0].endswith("test_errorpage.py")  # leading frames are the caller's
    assert any("emulator" in f for f in files[1:])  # frames after the worker's code stay
