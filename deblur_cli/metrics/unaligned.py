"""The unaligned protocol of GoPro, HIDE and paired folders (protocols.md §1.3): PSNR with
peak 255 and SSIM in one of the published conventions, on the 0..255 scale."""

from __future__ import annotations

import math
import time

import numpy as np

from .arrays import as_uint8, check_pair, to_255
from .scores import ImageScore
from .ssim import ssim


def psnr(pred: np.ndarray, gt: np.ndarray, *, quantize_pred: bool = True) -> float:
    """Plain RGB PSNR over all pixels and channels, peak 255 (§1.3); inf when equal.
    The peak is fixed, never guessed from the data (seed quirk §1.5.6)."""
    check_pair(pred, gt)
    a = to_255(pred, quantize_pred)
    b = to_255(gt, False)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


def score_unaligned(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    ssim_variant: str = "ssim3d",
    quantize_pred: bool = True,
) -> ImageScore:
    """§1.3: PSNR (peak 255) and SSIM without any registration (GoPro, HIDE, paired folders)."""
    check_pair(pred, gt)
    if quantize_pred:
        pred = as_uint8(pred)  # once, not once per metric
    t0 = time.perf_counter()
    p = psnr(pred, gt, quantize_pred=quantize_pred)
    s = ssim(pred, gt, ssim_variant, quantize_pred=quantize_pred)
    return ImageScore(
        psnr=p,
        ssim=s,
        ecc_ok=None,
        gain=None,
        warp=None,
        metric_seconds=time.perf_counter() - t0,
    )
