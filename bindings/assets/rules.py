"""`_redirects`, `_headers` and `run_worker_first` patterns, as Cloudflare reads them.

Followed: workers-sdk `packages/workers-shared/utils/configuration/` (`parseRedirects.ts`,
`parseHeaders.ts`, `parseStaticRouting.ts`, `constants.ts`) and
`asset-worker/src/utils/rules-engine.ts`, and the docs
(https://developers.cloudflare.com/workers/static-assets/headers/,
https://developers.cloudflare.com/workers/static-assets/redirects/,
https://developers.cloudflare.com/workers/static-assets/routing/worker-script/).

- A rule's path matches the request's (still percent-encoded) path in full: `*` is a
  splat (`:splat` in the target), `:name` one path segment; a rule starting `https://`
  matches `https://<host><path>`. `_redirects` rules apply first match wins, with status
  200 (rewrite to another asset), 301, 302 (default), 303, 307 or 308; `_headers` rules
  all apply in order (`! Name` removes a header). Lines Cloudflare would ignore are
  ignored with a warning naming the line, as `wrangler dev` prints them.
- Limits: 2,000 static + 100 dynamic redirects, 100 header rules, 2,000 characters a line.
- `run_worker_first` patterns only know `*` (any characters); `!/...` routes to assets.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

log = logging.getLogger("edge.assets")

MAX_LINE_LENGTH = 2000
MAX_STATIC_REDIRECTS = 2000
MAX_DYNAMIC_REDIRECTS = 100
MAX_HEADER_RULES = 100
MAX_ROUTE_RULES = 100
MAX_ROUTE_RULE_LENGTH = 100
REDIRECT_STATUSES = frozenset({200, 301, 302, 303, 307, 308})

_PLACEHOLDER = re.compile(r":([A-Za-z]\w*)")


def _rule_regex(rule: str) -> re.Pattern[str] | None:
    """The matcher of a `_headers` / `_redirects` path (None when it cannot compile,
    e.g. two splats: Cloudflare skips such a rule)."""
    pattern = "(?P<splat>.*)".join(re.escape(part) for part in rule.split("*"))
    host_end = pattern.find("/", len("https://")) if rule.startswith("https://") else 0

    def group(match: re.Match[str], stop: str) -> str:
        return f"(?P<{match.group(1)}>[^{stop}]+)"

    # placeholders: in the host they stop at "/" and ".", in the path at "/"
    host = _PLACEHOLDER.sub(lambda m: group(m, "/."), pattern[:host_end])
    path = _PLACEHOLDER.sub(lambda m: group(m, "/"), pattern[host_end:])
    try:
        return re.compile(f"^{host}{path}$")
    except re.error:
        return None


def _replace(text: str, groups: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: groups.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True)
class _Rule:
    source: str
    regex: re.Pattern[str]

    def match(self, host: str, path: str) -> dict[str, str] | None:
        target = f"https://{host}{path}" if self.source.startswith("https://") else path
        found = self.regex.match(target)
        return None if found is None else {k: v or "" for k, v in found.groupdict().items()}


@dataclass(frozen=True)
class Redirect:
    status: int
    to: str


@dataclass
class Redirects:
    rules: list[tuple[_Rule, Redirect]] = field(default_factory=list)

    def match(self, host: str, path: str) -> Redirect | None:
        """The first rule matching the request's host and (encoded) path, placeholders
        filled in."""
        for rule, redirect in self.rules:
            groups = rule.match(host, path)
            if groups is not None:
                to = _replace(redirect.to, groups).strip()
                if not re.match(r"^\w+://", to):
                    to = re.sub(r"/+", "/", to)
                return Redirect(redirect.status, to)
        return None


@dataclass(frozen=True)
class HeaderRule:
    set: dict[str, str]
    unset: list[str]


@dataclass
class HeaderRules:
    rules: list[tuple[_Rule, HeaderRule]] = field(default_factory=list)

    def matching(self, host: str, path: str) -> Iterator[HeaderRule]:
        for rule, headers in self.rules:
            groups = rule.match(host, path)
            if groups is not None:
                values = {k: _replace(v, groups) for k, v in headers.set.items()}
                yield HeaderRule(values, headers.unset)


def _lines(text: str, file: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE_LENGTH:
            _invalid(file, number, f"exceeds the maximum length of {MAX_LINE_LENGTH}")
            continue
        yield number, line


def _invalid(file: str, number: int, why: str) -> None:
    log.warning("assets %s line %d ignored: %s", file, number, why)


def _valid_path(value: str, *, absolute_ok: bool) -> bool:
    if value.startswith("/"):
        return True
    if absolute_ok and re.match(r"^https?://", value):
        return bool(urlsplit(value).netloc)
    return False


def parse_redirects(text: str, *, html_handling: str = "auto-trailing-slash") -> Redirects:
    """The rules of a `_redirects` file (invalid lines are logged and skipped)."""
    redirects = Redirects()
    seen: set[str] = set()
    static = dynamic = 0
    static_allowed = True
    for number, line in _lines(text, "_redirects"):
        tokens = line.split()
        comment = next((i for i, t in enumerate(tokens) if i >= 2 and t.startswith("#")), None)
        tokens = tokens[:comment]
        if not 2 <= len(tokens) <= 3:
            _invalid("_redirects", number, f"expected 2 or 3 fields, got {len(tokens)}")
            continue
        source, to, status_text = (*tokens, "302")[:3]
        if not source.startswith("/") and not source.startswith("https://"):
            _invalid("_redirects", number, f"the source {source!r} must start with / or https://")
            continue
        if static_allowed and "*" not in source and not _PLACEHOLDER.search(source):
            static += 1
            if static > MAX_STATIC_REDIRECTS:
                _invalid("_redirects", number, f"over {MAX_STATIC_REDIRECTS} static rules")
                continue
        else:
            dynamic += 1
            static_allowed = False
            if dynamic > MAX_DYNAMIC_REDIRECTS:
                _invalid("_redirects", number, f"over {MAX_DYNAMIC_REDIRECTS} dynamic rules; "
                         "skipping the rest of the file")  # fmt: skip
                break
        if not _valid_path(to, absolute_ok=True):
            _invalid("_redirects", number, f"the target {to!r} must start with / or http(s)://")
            continue
        status = int(status_text) if status_text.isdigit() else 0
        if status not in REDIRECT_STATUSES:
            _invalid("_redirects", number, "valid status codes are 200, 301, 302 (default), "
                     f"303, 307, or 308, got {status_text}")  # fmt: skip
            continue
        relative = to.startswith("/")
        loops = re.search(r"/\*$", source) or (
            source.endswith("/") and html_handling != "none"
        )
        if relative and loops and re.search(r"/index(\.html)?$", to):
            _invalid("_redirects", number, "infinite loop: HTML handling redirects the target "
                     "back to this rule")  # fmt: skip
            continue
        if source in seen:
            _invalid("_redirects", number, f"duplicate rule for {source}")
            continue
        seen.add(source)
        if status == 200 and not relative:
            _invalid("_redirects", number, f"proxy (200) rules can only point to paths, got {to}")
            continue
        regex = _rule_regex(source)
        if regex is not None:
            redirects.rules.append((_Rule(source, regex), Redirect(status, to)))
    return redirects


def parse_headers(text: str) -> HeaderRules:
    """The rules of a `_headers` file (invalid lines are logged and skipped)."""
    rules = HeaderRules()
    current: tuple[str, dict[str, str], list[str]] | None = None

    def close() -> None:
        if current is None:
            return
        source, values, unset = current
        regex = _rule_regex(source)
        if not values and not unset:
            log.warning("assets _headers: no headers for %s; rule ignored", source)
        elif regex is not None:
            rules.rules.append((_Rule(source, regex), HeaderRule(values, unset)))

    for number, line in _lines(text, "_headers"):
        if re.match(r"^(\S+://|/)", line):
            if len(rules.rules) >= MAX_HEADER_RULES:
                _invalid("_headers", number, f"over {MAX_HEADER_RULES} rules; "
                         "skipping the rest of the file")  # fmt: skip
                current = None
                break
            close()
            current = (line, {}, []) if _valid_path(line, absolute_ok=True) else None
            if current is None:
                _invalid("_headers", number, f"{line!r} is not a path or https:// URL")
            continue
        if ":" not in line:
            if current is not None and line.startswith("! "):
                current[2].append(line[2:].strip().lower())
            else:
                _invalid("_headers", number, "expected a `Name: value` pair under a path")
            continue
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not name or " " in name or not value or current is None:
            _invalid("_headers", number, "expected a `Name: value` pair under a path")
            continue
        values = current[1]
        values[name] = f"{values[name]}, {value}" if name in values else value
    close()
    return rules


@dataclass(frozen=True)
class RoutePatterns:
    """`run_worker_first` as an array: `worker` patterns run the worker first, `assets`
    (the `!/...` ones) go to assets even when a worker pattern matches too."""

    worker: tuple[re.Pattern[str], ...]
    assets: tuple[re.Pattern[str], ...]

    def route(self, path: str) -> str | None:
        """"assets", "worker", or None (neither: assets if one matches, else the worker)."""
        if any(p.match(path) for p in self.assets):
            return "assets"
        if any(p.match(path) for p in self.worker):
            return "worker"
        return None


def _glob(rule: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in rule.split("*")) + "$")


def parse_route_patterns(rules: list[str]) -> RoutePatterns:
    """Check `run_worker_first` patterns as Wrangler does; ValueError with its message."""
    if not rules:
        raise ValueError("No `run_worker_first` rules were provided; must provide at least 1 rule.")
    if len(rules) > MAX_ROUTE_RULES:
        raise ValueError(f"Too many `run_worker_first` rules were provided; {len(rules)} rules "
                         f"provided exceeds max of {MAX_ROUTE_RULES}.")  # fmt: skip
    worker, assets, invalid = [], [], []
    for rule in rules:
        if not isinstance(rule, str):
            invalid.append(f"{rule!r}: rules must be strings")
        elif rule.startswith("!/"):
            assets.append(rule)
        elif rule.startswith("/"):
            worker.append(rule)
        elif rule.startswith("!"):
            invalid.append(f"'{rule}': negative rules must start with '!/'")
        else:
            invalid.append(f"'{rule}': rules must start with '/' or '!/'")
    if assets and not worker:
        raise ValueError("Only negative `run_worker_first` rules were provided; "
                         "must provide at least 1 non-negative rule")  # fmt: skip
    for group in (worker, assets):
        seen: set[str] = set()
        for rule in group:
            if len(rule) > MAX_ROUTE_RULE_LENGTH:
                invalid.append(f"'{rule}': all rules must be less than "
                               f"{MAX_ROUTE_RULE_LENGTH} characters in length")  # fmt: skip
            if rule in seen:
                invalid.append(f"'{rule}': rule is a duplicate; rules must be unique")
            seen.add(rule)
            if rule.endswith("*"):
                invalid.extend(
                    f"'{other}': rule '{rule}' makes it redundant"
                    for other in group if other != rule and other.startswith(rule[:-1])
                )
    if invalid:
        raise ValueError("Invalid routes in `run_worker_first`:\n" + "\n".join(invalid))
    return RoutePatterns(tuple(_glob(r) for r in worker), tuple(_glob(r[1:]) for r in assets))
