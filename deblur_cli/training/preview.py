"""Contact sheet of synthetic pairs, to eyeball a `[data.synthetic]` recipe before training.

One row per sample: kernel (upscaled, scaled so its peak is white), blurred crop, sharp crop,
each crop×crop, separated and framed by `GAP` pixels of mid grey. Writing the sheet is the
caller's job (through the files package).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InvalidArgumentError
from .synthetic import SynthConfig, synthesize_pair

GAP = 4
GAP_VALUE = 0.5


def sheet_shape(n: int, crop: int) -> tuple[int, int, int]:
    """(height, width, 3) of the sheet `make_contact_sheet` returns for n samples."""
    return n * crop + (n + 1) * GAP, 3 * crop + 4 * GAP, 3


def kernel_tile(kernel: np.ndarray, size: int) -> np.ndarray:
    """A size×size RGB tile showing the kernel, nearest-neighbour upscaled by the largest
    integer factor that fits (area-downscaled if the kernel is larger), peak at 1.0."""
    k = kernel.astype(np.float32)
    peak = float(k.max())
    if peak > 0.0:
        k = k / peak
    factor = size // max(k.shape)
    if factor >= 1:
        shown = cv2.resize(k, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    else:
        shown = cv2.resize(k, (size, size), interpolation=cv2.INTER_AREA)
    tile = np.zeros((size, size), np.float32)
    top, left = (size - shown.shape[0]) // 2, (size - shown.shape[1]) // 2
    tile[top : top + shown.shape[0], left : left + shown.shape[1]] = shown
    return np.repeat(tile[:, :, None], 3, axis=2)


def make_contact_sheet(
    sharp_images: list[np.ndarray],
    rng: np.random.Generator,
    cfg: SynthConfig,
    n: int,
    crop: int,
) -> np.ndarray:
    """A float32 RGB sheet of `sheet_shape(n, crop)`: n rows of (kernel, blurred, sharp).

    Each row picks an image uniformly from `sharp_images` (float32 H×W×3 sRGB in [0, 1], each
    at least crop×crop), a random crop×crop window in it, and a fresh kernel and degradation.
    """
    if n < 1:
        raise InvalidArgumentError(f"contact sheet: n must be >= 1, got {n}")
    if crop < 8:
        raise InvalidArgumentError(f"contact sheet: crop must be >= 8 pixels, got {crop}")
    if not sharp_images:
        raise InvalidArgumentError("contact sheet: no sharp images given")
    for i, image in enumerate(sharp_images):
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < crop:
            raise InvalidArgumentError(
                f"contact sheet: image {i} has shape {image.shape}, "
                f"needs H×W×3 with H and W >= crop ({crop})"
            )
    sheet = np.full(sheet_shape(n, crop), GAP_VALUE, dtype=np.float32)
    for row in range(n):
        image = sharp_images[int(rng.integers(len(sharp_images)))]
        y = int(rng.integers(image.shape[0] - crop, endpoint=True))
        x = int(rng.integers(image.shape[1] - crop, endpoint=True))
        window = np.asarray(image[y : y + crop, x : x + crop], dtype=np.float32)
        blurred, sharp, kernel = synthesize_pair(window, rng, cfg)
        top = GAP + row * (crop + GAP)
        for col, tile in enumerate((kernel_tile(kernel, crop), blurred, sharp)):
            left = GAP + col * (crop + GAP)
            sheet[top : top + crop, left : left + crop] = tile
    return sheet
