"""What scoring one image returns (`ImageScore`) and the library versions its numbers depend on."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

import cv2
import numpy as np


@dataclass(frozen=True)
class ImageScore:
    """Scores of one image under one protocol.

    `ecc_ok`, `ecc_cc`, `gain` and `warp` are None when the protocol does not align (GoPro).
    `warp` is the 3×3 homography, row-major. Seconds are wall time in this process.
    """

    psnr: float
    ssim: float
    ecc_ok: bool | None
    gain: float | None
    warp: tuple[float, ...] | None
    ecc_cc: float | None = None
    valid_fraction: float = 1.0
    align_seconds: float = 0.0
    metric_seconds: float = 0.0


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose numerics the scores depend on (§1.6: record them)."""
    versions = {"opencv": cv2.__version__, "numpy": np.__version__}
    try:
        versions["scikit-image"] = metadata.version("scikit-image")
    except metadata.PackageNotFoundError:  # pragma: no cover - skimage is a dependency
        versions["scikit-image"] = "missing"
    return versions
