"""Hand-built image files for decoder edge cases (headers that lie, odd channel counts)."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height RGB but whose image data is empty."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


def tiff_bytes(pixels: np.ndarray) -> bytes:
    """An uncompressed little-endian TIFF of an H×W×C uint8 array, any C ≥ 3, one strip.

    Layout: header | pixels | BitsPerSample array | ExtraSamples array | IFD (TIFF 6.0 §8).
    """
    height, width, channels = pixels.shape
    data = pixels.tobytes()
    extra = channels - 3
    bits_at = 8 + len(data)
    bits = struct.pack(f"<{channels}H", *([8] * channels))
    extra_at = bits_at + len(bits)
    extras = struct.pack(f"<{max(extra, 2)}H", *([0] * max(extra, 2)))
    ifd_at = extra_at + len(extras)

    def entry(tag: int, kind: int, count: int, value: int) -> bytes:
        return struct.pack("<HHII", tag, kind, count, value)

    short, long_ = 3, 4
    tags = [
        entry(256, long_, 1, width),
        entry(257, long_, 1, height),
        entry(258, short, channels, bits_at),
        entry(259, short, 1, 1),  # no compression
        entry(262, short, 1, 2),  # RGB
        entry(273, long_, 1, 8),  # the strip starts right after the header
        entry(277, short, 1, channels),
        entry(278, long_, 1, height),
        entry(279, long_, 1, len(data)),
        entry(284, short, 1, 1),  # chunky
    ]
    if extra:
        tags.append(entry(338, short, extra, extra_at if extra > 2 else 0))
    ifd = struct.pack("<H", len(tags)) + b"".join(tags) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", ifd_at) + data + bits + extras + ifd
