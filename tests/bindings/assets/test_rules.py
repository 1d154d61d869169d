"""`_redirects`, `_headers` and `run_worker_first` patterns, parsed as Cloudflare does."""

import logging

import pytest

from bindings.assets.rules import parse_headers, parse_redirects, parse_route_patterns


def test_redirect_rules_static_splat_placeholders_and_hosts():
    rules = parse_redirects(
        "# comment\n"
        "/old /new\n"
        "/perm /new 301  # trailing comment\n"
        "/blog/* /posts/:splat 308\n"
        "/users/:id/profile /u/:id 302\n"
        "https://old.example.com/* https://example.com/:splat 301\n"
        "/rewrite /target 200\n"
    )
    assert rules.match("example.com", "/old").__dict__ == {"status": 302, "to": "/new"}
    assert rules.match("example.com", "/perm").status == 301
    assert rules.match("example.com", "/blog/a/b").to == "/posts/a/b"
    assert rules.match("example.com", "/users/42/profile").to == "/u/42"
    assert rules.match("example.com", "/users/4/2/profile") is None  # one segment only
    assert rules.match("old.example.com", "/x").to == "https://example.com/x"
    assert rules.match("example.com", "/x") is None
    assert rules.match("example.com", "/rewrite").status == 200


def test_first_matching_redirect_wins():
    rules = parse_redirects("/a/* /first\n/a/b /second\n")
    assert rules.match("h", "/a/b").to == "/first"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("/only-one-field", "expected 2 or 3 fields"),
        ("/a /b 404", "valid status codes are 200, 301, 302"),
        ("/a /b c d", "expected 2 or 3 fields"),
        ("relative /b", "must start with / or https://"),
        ("/a relative", "must start with / or http(s)://"),
        ("/* /index.html", "infinite loop"),
        ("/ /index", "infinite loop"),
        ("/p https://example.com/x 200", "proxy (200) rules can only point to paths"),
    ],
)
def test_invalid_redirect_lines_are_skipped_with_a_warning(caplog, line, why):
    with caplog.at_level(logging.WARNING, logger="edge.assets"):
        rules = parse_redirects(line + "\n/ok /fine\n")
    assert "line 1 ignored" in caplog.text and why in caplog.text
    assert [r.source for r, _ in rules.rules] == ["/ok"]


def test_duplicate_redirects_and_the_dynamic_rule_limit(caplog):
    with caplog.at_level(logging.WARNING, logger="edge.assets"):
        dup = parse_redirects("/a /b\n/a /c\n")
        many = parse_redirects("".join(f"/d{i}/* /x\n" for i in range(105)))
    assert [r.to for _, r in dup.rules] == ["/b"]
    assert "duplicate rule for /a" in caplog.text
    assert len(many.rules) == 100 and "over 100 dynamic rules" in caplog.text


def test_header_rules_set_append_unset_and_placeholders():
    rules = parse_headers(
        "/*\n"
        "  X-Frame-Options: DENY\n"
        "  Link: </a.css>; rel=preload\n"
        "  Link: </b.js>; rel=preload\n"
        "/secure/*\n"
        "  ! X-Frame-Options\n"
        "/files/:name\n"
        "  Content-Disposition: attachment; filename=:name\n"
    )
    matched = list(rules.matching("h", "/files/report.pdf"))
    assert matched[0].set == {
        "x-frame-options": "DENY",
        "link": "</a.css>; rel=preload, </b.js>; rel=preload",
    }
    assert matched[1].set == {"content-disposition": "attachment; filename=report.pdf"}
    assert [m.unset for m in rules.matching("h", "/secure/x")] == [[], ["x-frame-options"]]


def test_invalid_header_lines_are_skipped(caplog):
    with caplog.at_level(logging.WARNING, logger="edge.assets"):
        rules = parse_headers("X-Orphan: 1\n/a\n  Bad Name: 1\n  NoColon\n/b\n  X-Ok: yes\n")
    assert [r.source for r, _ in rules.rules] == ["/b"]
    assert caplog.text.count("ignored") >= 3


def test_route_patterns_route_negations_first():
    patterns = parse_route_patterns(["/api/*", "!/api/docs/*", "/admin"])
    assert patterns.route("/api/users") == "worker"
    assert patterns.route("/api/docs/index.html") == "assets"
    assert patterns.route("/admin") == "worker"
    assert patterns.route("/admin/x") is None
    assert patterns.route("/") is None


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([], "must provide at least 1 rule"),
        (["!/api/*"], "Only negative `run_worker_first` rules were provided"),
        (["api/*"], "'api/*': rules must start with '/' or '!/'"),
        (["/a", "!api"], "'!api': negative rules must start with '!/'"),
        (["/a", "/a"], "'/a': rule is a duplicate; rules must be unique"),
        (["/api/*", "/api/x"], "'/api/x': rule '/api/*' makes it redundant"),
        (["/" + "a" * 100], "must be less than 100 characters"),
        ([f"/{i}" for i in range(101)], "exceeds max of 100"),
    ],
)
def test_route_pattern_errors_are_wranglers(rules, message):
    with pytest.raises(ValueError, match=None) as caught:
        parse_route_patterns(rules)
    assert message in str(caught.value)
