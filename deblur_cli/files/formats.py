"""What an image file's first bytes say before any decoder runs: its format, its size and
channel count from the header, and its EXIF orientation.

Reading the header first lets `read_image` name a zero-size, oversized or 5-channel file
precisely (the decoders only say "invalid") and keeps such files away from libpng/libtiff.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

import numpy as np

_JPEG_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
# PNG colour type (IHDR byte 9) -> samples per pixel (PNG spec §11.2.2); palette is 1.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# TIFF tags (TIFF 6.0 §8) read from the first IFD.
_TIFF_WIDTH, _TIFF_HEIGHT, _TIFF_SAMPLES = 256, 257, 277
_TIFF_SHORT, _TIFF_LONG, _TIFF_LONG8 = 3, 4, 16


@dataclass(frozen=True)
class Header:
    """Size and channel count as the file's header declares them (None where not stated)."""

    height: int
    width: int
    channels: int | None = None


def sniff_format(data: bytes) -> str | None:
    """"png", "jpeg", "bmp", "tiff" or "webp" from the magic bytes; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def read_header(data: bytes, fmt: str) -> Header | None:
    """The declared size (and channels, for PNG and TIFF); None when the header is unreadable
    or the format (WebP) is left to the decoder."""
    try:
        if fmt == "png":
            return _png_header(data)
        if fmt == "bmp" and len(data) >= 26:
            width, height = struct.unpack("<ii", data[18:26])
            return Header(abs(height), abs(width))
        if fmt == "jpeg":
            return _jpeg_header(data)
        if fmt == "tiff":
            return _tiff_header(data)
    except struct.error:  # a header cut short: the decoder reports the truncation
        return None
    return None


def _png_header(data: bytes) -> Header | None:
    if len(data) < 26 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return Header(height, width, _PNG_CHANNELS.get(data[25]))


def _jpeg_header(data: bytes) -> Header | None:
    pos = 2
    while pos + 10 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in _JPEG_SOF_MARKERS:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return Header(height, width, data[pos + 9])
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    return None


def _tiff_header(data: bytes) -> Header | None:
    """Width, height and SamplesPerPixel from the first IFD (classic TIFF and BigTIFF)."""
    order = "<" if data[:2] == b"II" else ">"
    big = struct.unpack(order + "H", data[2:4])[0] == 43
    if big:
        offset = struct.unpack(order + "Q", data[8:16])[0]
        count = struct.unpack(order + "Q", data[offset : offset + 8])[0]
        first, size = offset + 8, 20
    else:
        offset = struct.unpack(order + "I", data[4:8])[0]
        count = struct.unpack(order + "H", data[offset : offset + 2])[0]
        first, size = offset + 2, 12
    tags: dict[int, int] = {}
    for i in range(min(count, 4096)):  # a real IFD has a few dozen entries
        entry = data[first + i * size : first + (i + 1) * size]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (_TIFF_WIDTH, _TIFF_HEIGHT, _TIFF_SAMPLES):
            tags[tag] = _tiff_value(entry, kind, order, big)
    if _TIFF_WIDTH not in tags or _TIFF_HEIGHT not in tags:
        return None
    return Header(tags[_TIFF_HEIGHT], tags[_TIFF_WIDTH], tags.get(_TIFF_SAMPLES, 1))


def _tiff_value(entry: bytes, kind: int, order: str, big: bool) -> int:
    """The first value of an IFD entry stored inline (SHORT, LONG or LONG8)."""
    value = entry[12:20] if big else entry[8:12]
    code = {_TIFF_SHORT: "H", _TIFF_LONG: "I", _TIFF_LONG8: "Q"}.get(kind, "I")
    return int(struct.unpack(order + code, value[: struct.calcsize(code)])[0])


def exif_orientation(data: bytes, fmt: str) -> int:
    """EXIF orientation (1-8) of a JPEG, WebP or PNG; 1 when absent or unreadable."""
    if fmt not in ("jpeg", "webp", "png") or (fmt == "png" and b"eXIf" not in data):
        return 1
    from PIL import Image  # Pillow ships with imageio; only the header and EXIF are parsed

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning on huge photos
            with Image.open(io.BytesIO(data)) as im:
                value = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not make the image unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip as EXIF orientation says (the same table as Pillow's exif_transpose)."""
    if orientation == 2:
        array = array[:, ::-1]
    elif orientation == 3:
        array = array[::-1, ::-1]
    elif orientation == 4:
        array = array[::-1]
    elif orientation == 5:
        array = array.swapaxes(0, 1)
    elif orientation == 6:
        array = np.rot90(array, -1)
    elif orientation == 7:
        array = array[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        array = np.rot90(array, 1)
    else:
        return array
    return np.ascontiguousarray(array)
