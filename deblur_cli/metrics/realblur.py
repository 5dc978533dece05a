"""The RealBlur protocol (protocols.md §1.1): least-squares intensity gain, ECC homography,
warps of the prediction and its validity mask, then masked PSNR and SSIM."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from ..defaults import ECC_ITERS
from .arrays import check_pair, unit_float32
from .scores import ImageScore
from .ssim import masked_ssim


@dataclass(frozen=True)
class Alignment:
    """Result of §1.1 steps 1-3 for one image.

    Attributes:
        aligned: `zr`, the gain-matched prediction warped into the GT frame and masked (float32).
        reference: `xr`, the GT masked by the same validity mask (float32).
        mask: H×W float32 validity mask `cr` (1 where the warped prediction has real data).
        warp: 3×3 float32 homography mapping GT coordinates to prediction coordinates.
        ecc_ok: False when ECC raised (or returned a non-finite warp) and the identity was used.
        ecc_cc: ECC correlation coefficient, None when ECC failed.
        gain: least-squares intensity gain `s` of step 1.
    """

    aligned: np.ndarray
    reference: np.ndarray
    mask: np.ndarray
    warp: np.ndarray
    ecc_ok: bool
    ecc_cc: float | None
    gain: float


def _find_warp(x: np.ndarray, zs: np.ndarray, iters: int) -> tuple[np.ndarray, float] | None:
    """Step 2: homography, identity start, COUNT|EPS with eps 0 (always `iters` iterations),
    no mask, gaussFiltSize 5; grayscale with the RGB weights because arrays are RGB. None
    when ECC raises or returns a non-finite warp."""
    warp = np.eye(3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iters, 0.0)
    try:
        # OpenCV's stubs lack the (mask None, gaussFiltSize) overload the official script uses.
        cc, warp = cv2.findTransformECC(  # type: ignore[call-overload]
            cv2.cvtColor(x, cv2.COLOR_RGB2GRAY),
            cv2.cvtColor(zs, cv2.COLOR_RGB2GRAY),
            warp,
            cv2.MOTION_HOMOGRAPHY,
            criteria,
            None,
            5,
        )
    except cv2.error:
        return None
    if not (np.all(np.isfinite(warp)) and math.isfinite(cc)):
        return None
    return warp, float(cc)


def ecc_align(pred: np.ndarray, gt: np.ndarray, *, iters: int = ECC_ITERS) -> Alignment:
    """§1.1 steps 1-3 on float32 H×W×3 RGB arrays in [0, 1] (prediction, ground truth).

    ECC failure (cv2.error, or a non-finite warp) falls back to the identity warp with a mask
    of ones and is reported through `ecc_ok` (§1.6), never raised.
    """
    z = np.ascontiguousarray(pred, dtype=np.float32)
    x = np.ascontiguousarray(gt, dtype=np.float32)
    h, w = x.shape[:2]

    # Step 1: float32 sums, as the official script computes them (no clipping of zs). An
    # all-black prediction (the official script would get NaN) keeps gain 1; ECC then fails.
    zz = np.sum(z * z)
    gain = np.sum(x * z) / zz if zz > 0 else np.float32(1.0)
    zs = gain * z

    found = _find_warp(x, zs, iters)
    if found is None:
        return _identity_alignment(zs, x, gain)
    warp, cc = found

    # Step 3: inverse-map warps; cubic + reflect for the image, nearest + constant 0 for the
    # mask. The official mask has 3 identical channels; one channel is warped here.
    flags = cv2.WARP_INVERSE_MAP
    zr = cv2.warpPerspective(
        zs, warp, (w, h), flags=cv2.INTER_CUBIC + flags, borderMode=cv2.BORDER_REFLECT
    )
    mask = cv2.warpPerspective(
        np.ones((h, w), dtype=np.float32),
        warp,
        (w, h),
        flags=cv2.INTER_NEAREST + flags,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    if not mask.any():  # the warp maps the whole frame outside the prediction: a failure too
        return _identity_alignment(zs, x, gain)
    np.multiply(zr, mask[..., None], out=zr)
    xr = x * mask[..., None]
    return Alignment(zr, xr, mask, warp, True, cc, float(gain))


def _identity_alignment(zs: np.ndarray, x: np.ndarray, gain: np.floating) -> Alignment:
    mask = np.ones(x.shape[:2], dtype=np.float32)
    return Alignment(zs, x, mask, np.eye(3, dtype=np.float32), False, None, float(gain))


def masked_psnr(aligned: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    """§1.1 step 4: data range 1, squared error summed in float64 over the valid region;
    the denominator counts each valid pixel once per channel. MSE 0 gives inf."""
    err = np.sum((reference - aligned) ** 2, dtype=np.float64)
    count = float(np.count_nonzero(mask)) * aligned.shape[2]
    if err == 0:
        return math.inf
    return 10.0 * math.log10(1.0 / (err / count))


def score_realblur(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    ecc_iters: int = ECC_ITERS,
    quantize_pred: bool = True,
) -> ImageScore:
    """The published RealBlur protocol (§1.1 steps 1-5) for one image.

    Args:
        pred: H×W×3 RGB prediction, uint8 or float in [0, 1] (float is quantised to 8 bits
            first unless `quantize_pred` is False, which reproduces the seed's test.py).
        gt: H×W×3 RGB ground truth, uint8 (or float in [0, 1]).
    """
    check_pair(pred, gt)
    t0 = time.perf_counter()
    al = ecc_align(unit_float32(pred, quantize_pred), unit_float32(gt, False), iters=ecc_iters)
    t1 = time.perf_counter()
    p = masked_psnr(al.aligned, al.reference, al.mask)
    s = masked_ssim(al.aligned, al.reference, al.mask)
    t2 = time.perf_counter()
    return ImageScore(
        psnr=p,
        ssim=s,
        ecc_ok=al.ecc_ok,
        gain=al.gain,
        warp=tuple(float(v) for v in al.warp.ravel()),
        ecc_cc=al.ecc_cc,
        valid_fraction=float(np.count_nonzero(al.mask)) / al.mask.size,
        align_seconds=t1 - t0,
        metric_seconds=t2 - t1,
    )


def psnr_realblur(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    ecc_iters: int = ECC_ITERS,
    quantize_pred: bool = True,
) -> float:
    """§1.4 `psnr_realblur`. Use `score_realblur` to get both metrics from one alignment."""
    return score_realblur(pred, gt, ecc_iters=ecc_iters, quantize_pred=quantize_pred).psnr


def ssim_realblur(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    ecc_iters: int = ECC_ITERS,
    quantize_pred: bool = True,
) -> float:
    """§1.4 `ssim_realblur`. Use `score_realblur` to get both metrics from one alignment."""
    return score_realblur(pred, gt, ecc_iters=ecc_iters, quantize_pred=quantize_pred).ssim
