"""Images and audio as bytes: the sample files scripted engines answer with, and what the
tasks read back from files they are given (type, pixel size, duration).

The samples are real files any decoder opens, built with the standard library only:
a solid-colour PNG of the asked size, a solid-grey baseline JPEG (one DC value, every
other block empty: the smallest valid JPEG of any size), an MP3 of silent MPEG-1
Layer III frames (all-zero side information decodes to silence), and a 16-bit PCM WAV
of silence. Colours and grey levels come from the prompt, so different prompts give
different images and the same prompt the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import struct
import wave
import zlib

#: MPEG-1 Layer III, no CRC, 128 kbit/s, 44.1 kHz, mono: 417-byte frames of 1152 samples.
_MP3_HEADER = b"\xff\xfb\x90\xc0"
_MP3_FRAME = 417
_MP3_FRAME_SECONDS = 1152 / 44100
#: MPEG-1 Layer III bit rates (kbit/s) by the header's 4-bit index.
_MP3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0)


def digest(text: str) -> bytes:
    """Stable bytes derived from `text` (colours, scores: the same input, the same sample)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def unit(text: str) -> float:
    """A stable number in [0, 1) derived from `text`."""
    return int.from_bytes(digest(text)[:4], "big") / 2**32


# --- images ---------------------------------------------------------------------------


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour 8-bit RGB PNG."""
    row = b"\x00" + bytes(rgb) * width  # filter type 0 (None), then the pixels
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(row * height, 1))
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def jpeg(width: int, height: int, grey: int) -> bytes:
    """A solid-grey baseline JPEG (JFIF, one component)."""
    dc = max(0, min(255, grey)) - 128  # with a DC quantiser of 8 the block mean is 128 + dc
    size = abs(dc).bit_length()
    # DC table: category 0 is "0"; `size` (when not 0) is "10". AC table: only EOB, "0".
    dc_table = bytes([1] + [0] * 15) + b"\x00" if not size else bytes([1, 1] + [0] * 14) + bytes(
        [0, size])
    bits = "10" + format(dc if dc > 0 else dc + (1 << size) - 1, f"0{size}b") if size else "0"
    blocks = -(-width // 8) * -(-height // 8)
    stream = bits + "0" + "00" * (blocks - 1)
    stream += "1" * (-len(stream) % 8)
    data = int(stream, 2).to_bytes(len(stream) // 8, "big").replace(b"\xff", b"\xff\x00")
    return b"".join([
        b"\xff\xd8",
        _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        _segment(0xDB, b"\x00" + bytes([8] * 64)),
        _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"),
        _segment(0xC4, b"\x00" + dc_table),
        _segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00"),
        _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        data,
        b"\xff\xd9",
    ])


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF or WebP (VP8X/VP8L/VP8), or None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"\xff\xd8":
        at = 2
        while at + 9 < len(data):
            if data[at] != 0xFF:
                return None
            marker, length = data[at + 1], struct.unpack(">H", data[at + 2 : at + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[at + 5 : at + 9])
                return width, height
            at += 2 + length
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        kind = data[12:16]
        if kind == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            return width, int.from_bytes(data[27:30], "little") + 1
        if kind == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if kind == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return width & 0x3FFF, height & 0x3FFF
    return None


# --- audio ----------------------------------------------------------------------------


def mp3(seconds: float) -> bytes:
    """`seconds` of silence as MP3 (at least one frame)."""
    frames = max(1, round(seconds / _MP3_FRAME_SECONDS))
    return (_MP3_HEADER + bytes(_MP3_FRAME - len(_MP3_HEADER))) * frames


def wav(seconds: float, rate: int = 24000) -> bytes:
    """`seconds` of silence as a mono 16-bit PCM WAV at `rate` Hz."""
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(bytes(2 * max(1, round(seconds * rate))))
    return out.getvalue()


def audio_seconds(data: bytes) -> float | None:
    """The duration of a WAV (from its header) or an MP3 (from its first frame's bit
    rate and the file size), or None for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data)) as file:
                return file.getnframes() / file.getframerate()
        except (wave.Error, EOFError, ZeroDivisionError):
            return None
    start = _mp3_start(data)
    if start is not None and len(data) >= start + 4:
        kbps = _MP3_KBPS[data[start + 2] >> 4]
        if data[start + 1] & 0x1E == 0x1A and kbps:  # MPEG-1 Layer III
            return (len(data) - start) * 8 / (kbps * 1000)
    return None


def _mp3_start(data: bytes) -> int | None:
    at = 0
    if data[:3] == b"ID3" and len(data) >= 10:  # skip the ID3v2 tag (a syncsafe size)
        size = 0
        for byte in data[6:10]:
            size = (size << 7) | (byte & 0x7F)
        at = 10 + size
    if len(data) > at + 1 and data[at] == 0xFF and data[at + 1] & 0xE0 == 0xE0:
        return at
    return None


def media_type(data: bytes, default: str = "application/octet-stream") -> str:
    """The media type the bytes' signature says, else `default`."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:4] == b"OggS":
        return "audio/ogg"
    if data[:4] == b"fLaC":
        return "audio/flac"
    if _mp3_start(data) is not None:
        return "audio/mpeg"
    return default
