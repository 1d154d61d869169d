"""`js.URL` and `js.URLSearchParams`, the parts of the WHATWG URL API workers use.

Behaviour follows https://url.spec.whatwg.org/ for the common cases workerd sees:
`protocol` ends with ":", `search` and `hash` keep their "?"/"#" (or are ""), `port` is ""
for the scheme's default, `host` includes a non-default port, `pathname` of an http(s)
URL is at least "/", `origin` is scheme://host. Setters rebuild `href`. `searchParams`
is live: changing it changes `search`. An unparsable URL raises JavaScript's
`TypeError: Invalid URL`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

from emulator.ffi.values import JsArray, JsException

__all__ = ["JsURL", "JsURLSearchParams"]

_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21"}
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


class JsURLSearchParams:
    """`URLSearchParams`: ordered, multi-valued query parameters."""

    def __init__(self, init: Any = None, *, _owner: JsURL | None = None) -> None:
        self._pairs: list[tuple[str, str]] = []
        self._owner = _owner
        if init is None:
            return
        if isinstance(init, str):
            self._pairs = parse_qsl(init.removeprefix("?"), keep_blank_values=True)
        elif isinstance(init, JsURLSearchParams):
            self._pairs = list(init._pairs)
        else:
            items: Iterable[Any] = init.items() if hasattr(init, "items") else init
            for pair in items:
                name, value = pair
                self._pairs.append((str(name), str(value)))

    def _changed(self) -> None:
        if self._owner is not None:
            self._owner._query = self.toString()

    def get(self, name: str) -> str | None:
        return next((v for k, v in self._pairs if k == name), None)

    def getAll(self, name: str) -> JsArray:
        return JsArray(v for k, v in self._pairs if k == name)

    def has(self, name: str) -> bool:
        return any(k == name for k, _ in self._pairs)

    def append(self, name: str, value: Any) -> None:
        self._pairs.append((str(name), str(value)))
        self._changed()

    def set(self, name: str, value: Any) -> None:
        first = next((i for i, (k, _) in enumerate(self._pairs) if k == name), None)
        self._pairs = [p for p in self._pairs if p[0] != name]
        self._pairs.insert(len(self._pairs) if first is None else first, (name, str(value)))
        self._changed()

    def delete(self, name: str) -> None:
        self._pairs = [p for p in self._pairs if p[0] != name]
        self._changed()

    def sort(self) -> None:
        self._pairs.sort(key=lambda pair: pair[0])
        self._changed()

    @property
    def size(self) -> int:
        return len(self._pairs)

    def entries(self) -> Iterator[JsArray]:
        return (JsArray(pair) for pair in self._pairs)

    def keys(self) -> Iterator[str]:
        return (k for k, _ in self._pairs)

    def values(self) -> Iterator[str]:
        return (v for _, v in self._pairs)

    def __iter__(self) -> Iterator[JsArray]:
        return self.entries()

    def toString(self) -> str:
        return urlencode(self._pairs)

    __str__ = toString

    def __repr__(self) -> str:
        return f"URLSearchParams({self.toString()!r})"


class JsURL:
    """`URL`: `URL.new("https://x.dev/a?b=1")` or `URL.new("/a", base)`."""

    def __init__(self, url: Any, base: Any = None) -> None:
        text = str(url.href if isinstance(url, JsURL) else url).strip()
        if base is not None:
            base_text = str(base.href if isinstance(base, JsURL) else base)
            if not _parsable(base_text):
                raise JsException("TypeError", f"Invalid base URL: {base_text}")
            text = urljoin(base_text, text)
        if not _parsable(text):
            raise JsException("TypeError", f"Invalid URL: {text}")
        parts = urlsplit(text)
        self._scheme = parts.scheme.lower()
        self._username = parts.username or ""
        self._password = parts.password or ""
        self._hostname = (parts.hostname or "").lower()
        try:
            port = parts.port
        except ValueError:
            raise JsException("TypeError", f"Invalid URL: {text}") from None
        default = port is None or str(port) == _DEFAULT_PORTS.get(self._scheme)
        self._port = "" if default else str(port)
        path = quote(parts.path, safe=_PATH_SAFE)
        self._path = path or ("/" if self._scheme in _DEFAULT_PORTS else "")
        self._query = parts.query
        self._fragment = parts.fragment
        self._params: JsURLSearchParams | None = None

    @staticmethod
    def canParse(url: Any, base: Any = None) -> bool:
        try:
            JsURL(url, base)
        except JsException:
            return False
        return True

    # -- read-only composites -------------------------------------------------------

    @property
    def href(self) -> str:
        auth = self._username + (":" + self._password if self._password else "")
        authority = f"{auth}@{self.host}" if auth else self.host
        return f"{self._scheme}://{authority}{self._path}{self.search}{self.hash}"

    @href.setter
    def href(self, value: str) -> None:
        self.__init__(value)  # type: ignore[misc]

    @property
    def origin(self) -> str:
        return f"{self._scheme}://{self.host}"

    @property
    def host(self) -> str:
        return self._hostname + (f":{self._port}" if self._port else "")

    @host.setter
    def host(self, value: str) -> None:
        hostname, _, port = value.partition(":")
        self._hostname = hostname.lower()
        self._port = "" if port == _DEFAULT_PORTS.get(self._scheme) else port

    @property
    def searchParams(self) -> JsURLSearchParams:
        if self._params is None or self._params.toString() != urlencode(
            parse_qsl(self._query, keep_blank_values=True)
        ):
            self._params = JsURLSearchParams(self._query, _owner=self)
        return self._params

    # -- components with setters ----------------------------------------------------

    @property
    def protocol(self) -> str:
        return self._scheme + ":"

    @protocol.setter
    def protocol(self, value: str) -> None:
        self._scheme = value.rstrip(":").lower()

    @property
    def hostname(self) -> str:
        return self._hostname

    @hostname.setter
    def hostname(self, value: str) -> None:
        self._hostname = value.lower()

    @property
    def port(self) -> str:
        return self._port

    @port.setter
    def port(self, value: Any) -> None:
        value = str(value)
        self._port = "" if value == _DEFAULT_PORTS.get(self._scheme) else value

    @property
    def pathname(self) -> str:
        return self._path

    @pathname.setter
    def pathname(self, value: str) -> None:
        self._path = quote(value if value.startswith("/") else "/" + value, safe=_PATH_SAFE)

    @property
    def search(self) -> str:
        return "?" + self._query if self._query else ""

    @search.setter
    def search(self, value: str) -> None:
        self._query = value.removeprefix("?")
        self._params = None

    @property
    def hash(self) -> str:
        return "#" + self._fragment if self._fragment else ""

    @hash.setter
    def hash(self, value: str) -> None:
        self._fragment = value.removeprefix("#")

    @property
    def username(self) -> str:
        return self._username

    @property
    def password(self) -> str:
        return self._password

    def toString(self) -> str:
        return self.href

    toJSON = toString
    __str__ = toString

    def __repr__(self) -> str:
        return f"URL({self.href!r})"


def _parsable(text: str) -> bool:
    scheme, sep, rest = text.partition(":")
    if not sep or not scheme or not scheme[0].isalpha():
        return False
    if not all(c.isalnum() or c in "+-." for c in scheme):
        return False
    if scheme.lower() in _DEFAULT_PORTS:
        return rest.startswith("//") and bool(urlsplit(text).hostname)
    return True
