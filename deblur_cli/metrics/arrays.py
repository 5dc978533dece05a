"""Input arrays of the metrics: shape checks and conversion to the scales the protocols use
(float32 in [0, 1] for §1.1, float64 on 0..255 for §1.3), with the published 8-bit rounding."""

from __future__ import annotations

import numpy as np

from ..errors import InputArrayError
from ..files import quantize

# §1.1 step 5 / §1.3: Gaussian window sigma 1.5, truncate 3.5 -> radius int(3.5*1.5+0.5) = 5,
# i.e. 11 taps; the same 11 taps as OpenCV getGaussianKernel(11, 1.5) used by BasicSR.
SIGMA = 1.5
RADIUS = int(3.5 * SIGMA + 0.5)


def as_uint8(pred: np.ndarray) -> np.ndarray:
    """A prediction as the published test scripts save it (§1.1): uint8 as it is, float in
    [0, 1] through `files.quantize` (floor(clip(x, 0, 1) * 255 + 0.5) in float32)."""
    return pred if pred.dtype == np.uint8 else quantize(pred)


def check_pair(pred: np.ndarray, gt: np.ndarray) -> None:
    """Both H×W×3, the same shape, and at least as large as the 11×11 SSIM window."""
    if pred.ndim != 3 or pred.shape[2] != 3:
        raise InputArrayError(f"prediction must be H×W×3, got shape {pred.shape}")
    if pred.shape != gt.shape:
        raise InputArrayError(f"prediction shape {pred.shape} differs from ground truth {gt.shape}")
    if min(gt.shape[:2]) < 2 * RADIUS + 1:
        raise InputArrayError(
            f"image {gt.shape[0]}×{gt.shape[1]} is smaller than the 11×11 SSIM window"
        )


def unit_float32(img: np.ndarray, quantize_pred: bool) -> np.ndarray:
    """uint8 -> float32/255 exactly as the official script reads PNGs; float -> [0,1] float32
    (rounded to 8 bits first when `quantize_pred`)."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / np.float32(255)
    if quantize_pred:
        return quantize(img).astype(np.float32) / np.float32(255)
    return np.clip(np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0), 0.0, 1.0)


def to_255(img: np.ndarray, quantize_pred: bool) -> np.ndarray:
    """Image on the 0..255 scale in float64 (§1.3 metrics work on [0, 255] values)."""
    if img.dtype == np.uint8:
        return img.astype(np.float64)
    if quantize_pred:
        return quantize(img).astype(np.float64)
    return unit_float32(img, False).astype(np.float64) * 255.0
