"""Files: the one image reader/writer and `quantize`, atomic writes, JSON/JSON-lines reports.

May import only `errors` and `defaults` (and numpy/OpenCV/Pillow); every other package reads
and writes files through it.
"""

from .atomic import atomic_write_bytes
from .images import WRITE_SUFFIXES, ImageInfo, quantize, read_image, read_rgb, write_image
from .reports import write_json, write_json_lines

__all__ = [
    "WRITE_SUFFIXES",
    "ImageInfo",
    "atomic_write_bytes",
    "quantize",
    "read_image",
    "read_rgb",
    "write_image",
    "write_json",
    "write_json_lines",
]
