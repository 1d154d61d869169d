"""`FormData`, `Blob` and `File`, and parsing of form bodies.

The API mirrors Cloudflare's Python SDK (`workers.FormData` follows `multidict`: item
access gives the first value, `get_all()` every value, `append()` adds one) and the
JavaScript `FormData`/`Blob`/`File` names (`getAll`, `has`, `type`, `arrayBuffer`).
`Request.form_data()` accepts `application/x-www-form-urlencoded` and
`multipart/form-data` as the Fetch standard does, and raises TypeError for anything else.
Multipart is parsed with the standard library's `email` package (python-multipart is not
a dependency here).
"""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["Blob", "File", "FormData", "parse_form_data"]


class Blob:
    """Immutable bytes with a MIME type."""

    __slots__ = ("_data", "content_type")

    def __init__(
        self, blob_parts: Any = (), content_type: str | None = None, **_: Any
    ) -> None:
        if isinstance(blob_parts, str | bytes | bytearray | memoryview | Blob):
            blob_parts = [blob_parts]
        chunks = []
        for part in blob_parts:
            if isinstance(part, Blob):
                chunks.append(part._data)
            elif isinstance(part, str):
                chunks.append(part.encode())
            elif isinstance(part, bytes | bytearray | memoryview):
                chunks.append(bytes(part))
            else:
                raise TypeError(f"Don't know how to handle {type(part).__name__} for Blob()")
        self._data = b"".join(chunks)
        self.content_type = content_type or ""

    @property
    def size(self) -> int:
        return len(self._data)

    @property
    def type(self) -> str:
        return self.content_type

    @property
    def data(self) -> bytes:
        """The bytes, at once (the JavaScript API's are async: `bytes()`, `arrayBuffer()`)."""
        return self._data

    async def bytes(self) -> bytes:
        return self._data

    arrayBuffer = bytes

    async def text(self) -> str:
        return self._data.decode("utf-8", errors="replace")

    def slice(self, start: int | None = None, end: int | None = None,
              content_type: str | None = None) -> Blob:
        return Blob(self._data[start:end], content_type)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, type={self.content_type!r})"


class File(Blob):
    """A `Blob` with a file name, as uploaded in a multipart form."""

    __slots__ = ("last_modified", "name")

    def __init__(self, blob_parts: Any, filename: str, content_type: str | None = None,
                 last_modified: int | None = None, **kwargs: Any) -> None:
        super().__init__(blob_parts, content_type, **kwargs)
        self.name = filename
        self.last_modified = last_modified or 0

    @property
    def filename(self) -> str:
        return self.name


FormDataValue = "str | Blob | File"


class FormData(MutableMapping[str, Any]):
    """An ordered multi-map of form fields; values are `str` or `File`."""

    def __init__(self, form_data: Any = None) -> None:
        self._items: list[tuple[str, Any]] = []
        if form_data is None:
            return
        if isinstance(form_data, FormData):
            self._items = list(form_data._items)
        elif isinstance(form_data, dict):
            self._items = list(form_data.items())
        elif isinstance(form_data, Iterable):
            self._items = [(str(k), v) for k, v in form_data]
        else:
            raise TypeError("Expected form_data to be a dict or an instance of FormData")

    def __getitem__(self, key: str) -> Any:
        for name, value in self._items:
            if name == key:
                return value
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list):
            raise TypeError("Expected single item in arguments to FormData.__setitem__")
        self.delete(key)
        self._items.append((key, value))

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.delete(key)

    def __contains__(self, key: object) -> bool:
        return any(name == key for name, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._items))

    def __len__(self) -> int:
        return len(dict.fromkeys(name for name, _ in self._items))

    def append(self, key: str, value: Any, filename: str | None = None) -> None:
        if filename is not None and isinstance(value, Blob):
            value = File(value, filename, value.content_type)
        self._items.append((key, value))

    def delete(self, key: str) -> None:
        self._items = [item for item in self._items if item[0] != key]

    def has(self, key: str) -> bool:
        return key in self

    def get_all(self, key: str) -> list[Any]:
        return [value for name, value in self._items if name == key]

    getAll = get_all

    def entries(self) -> Iterator[tuple[str, Any]]:
        """Every (name, value) pair, repeats included, in order (JavaScript's entries())."""
        return iter(list(self._items))

    def multi_items(self) -> list[tuple[str, Any]]:
        return list(self._items)

    def __repr__(self) -> str:
        return f"FormData({self._items!r})"


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_form_data(content_type: str, body: bytes) -> FormData:
    """Parse an urlencoded or multipart body; TypeError for other or malformed bodies."""
    media_type = _media_type(content_type)
    if media_type == "application/x-www-form-urlencoded":
        text = body.decode("utf-8", errors="replace")
        return FormData(parse_qsl(text, keep_blank_values=True))
    if media_type == "multipart/form-data":
        return _parse_multipart(content_type, body)
    raise TypeError(
        "Unrecognized Content-Type header value "
        f"{content_type!r}: FormData can only parse multipart/form-data and "
        "application/x-www-form-urlencoded bodies"
    )


def _parse_multipart(content_type: str, body: bytes) -> FormData:
    if "boundary=" not in content_type.lower():
        raise TypeError("multipart/form-data Content-Type has no boundary parameter")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise TypeError("Failed to parse body as FormData: malformed multipart body")
    form = FormData()
    for part in message.iter_parts():
        disposition = part.get("content-disposition")
        name = part.get_param("name", header="content-disposition")
        if disposition is None or name is None:
            raise TypeError("Failed to parse body as FormData: a part has no field name")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        if filename is None:
            charset = part.get_content_charset() or "utf-8"
            form.append(str(name), payload.decode(charset, errors="replace"))
        else:
            part_type = part.get_content_type() if part.get("content-type") else ""
            form.append(str(name), File(payload, filename, part_type or "application/octet-stream"))
    return form
