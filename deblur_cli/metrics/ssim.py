"""SSIM in the published conventions (protocols.md §1.1 step 5, §1.3): the masked per-channel
Gaussian SSIM of RealBlur, skimage's and BasicSR's 2-D SSIM, and the MATLAB-style 3-D SSIM of
NAFNet/MLWNet. Pure functions of arrays, float64 throughout."""

from __future__ import annotations

import cv2
import numpy as np

from ..defaults import SsimVariant
from ..errors import InvalidArgumentError
from .arrays import RADIUS, SIGMA, check_pair, to_255, unit_float32

SSIM_VARIANTS: tuple[str, ...] = tuple(v.value for v in SsimVariant)
_K1, _K2 = 0.01, 0.03
# Output rows per strip: the 15 float64 planes of a strip (~4 MB at RealBlur width) stay in
# cache, and no image-sized buffer is allocated (whole-image float64 stacks, ~60 MB, cost
# more in page faults than in arithmetic).
_STRIP_ROWS = 32


def _gaussian_taps() -> np.ndarray:
    # Built exactly like scipy.ndimage's kernel (what skimage's gaussian filter uses).
    x = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
    phi = np.exp(-0.5 / (SIGMA * SIGMA) * x * x)
    return phi / phi.sum()


_TAPS = _gaussian_taps()


def _channel_mix_replicate(n: int) -> np.ndarray:
    """n×n matrix of the 11-tap Gaussian along an axis of length n with replicate padding 5."""
    m = np.zeros((n, n), dtype=np.float64)
    for k in range(n):
        for j, g in enumerate(_TAPS):
            m[k, min(max(k + j - RADIUS, 0), n - 1)] += g
    return m


def _ssim_channel_sums(
    a: np.ndarray,
    b: np.ndarray,
    data_range: float,
    *,
    weights: np.ndarray | None = None,
    volume: bool = False,
) -> np.ndarray:
    """Per-channel sums of the SSIM map of H×W×C images a, b, in float64, strip by strip.

    Default: 2-D Gaussian windows, map only where the 11×11 window lies inside the image
    (the 5-px-cropped interior, so border handling never matters), optionally times
    `weights` (H×W, cropped alike). `volume`: the 3-D (row, column, channel) Gaussian with
    replicate padding on every axis over the full map (§1.3 `ssim3d`).

    A strip's 5·C planes are stacked into one tall image and filtered in one OpenCV call:
    rows near a plane boundary see the neighbouring plane, but those are exactly the rows
    cut away (they are the 2·radius context rows of the strip).
    """
    h, w, c = a.shape
    r = RADIUS
    at, bt = a.transpose(2, 0, 1), b.transpose(2, 0, 1)
    rows_out = h if volume else h - 2 * r
    # The 3-D kernel is separable and replicate padding clamps each axis on its own, so the
    # 3-D filter is a C×C channel mix followed by a 2-D filter with replicated borders.
    mix = _channel_mix_replicate(c) if volume else None
    border = cv2.BORDER_REPLICATE if volume else cv2.BORDER_REFLECT
    cols = slice(None) if volume else slice(r, w - r)
    sums = np.zeros(c, dtype=np.float64)
    for y0 in range(0, rows_out, _STRIP_ROWS):
        y1 = min(y0 + _STRIP_ROWS, rows_out)
        n = y1 - y0 + 2 * r
        rows = np.clip(np.arange(y0 - r, y1 + r), 0, h - 1) if volume else slice(y0, y1 + 2 * r)
        st = np.empty((5, c, n, w), dtype=np.float64)
        st[0] = at[:, rows]
        st[1] = bt[:, rows]
        np.multiply(st[0], st[0], out=st[2])
        np.multiply(st[1], st[1], out=st[3])
        np.multiply(st[0], st[1], out=st[4])
        if mix is not None:
            st = np.einsum("kc,qchw->qkhw", mix, st)
        f = cv2.sepFilter2D(st.reshape(5 * c * n, w), cv2.CV_64F, _TAPS, _TAPS, borderType=border)
        smap = _ssim_map(f.reshape(5, c, n, w)[:, :, r : n - r, cols], data_range)
        if weights is None:
            sums += smap.sum(axis=(1, 2))
        else:
            sums += np.einsum("chw,hw->c", smap, weights[y0 + r : y1 + r, cols])
    return sums


def _ssim_map(moments: np.ndarray, data_range: float) -> np.ndarray:
    """Wang et al. SSIM map with population covariance, in skimage's operation order (so the
    rounding is the same); computed in place in `moments`, which is consumed."""
    ux, uy, uxx, uyy, uxy = moments
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    num = ux * uy
    uxy -= num  # sigma_xy
    num *= 2
    num += c1  # A1 = 2 ux uy + C1
    uxy *= 2
    uxy += c2  # A2 = 2 sigma_xy + C2
    num *= uxy
    ux *= ux
    uy *= uy
    uxx -= ux  # sigma_x^2
    uyy -= uy  # sigma_y^2
    ux += uy
    ux += c1  # B1 = ux^2 + uy^2 + C1
    uxx += uyy
    uxx += c2  # B2 = sigma_x^2 + sigma_y^2 + C2
    ux *= uxx
    num /= ux
    return num


def masked_ssim(aligned: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    """§1.1 step 5: per-channel Gaussian SSIM in float64 (data range 1), map times mask,
    5-px crop of map and mask, per-channel masked mean, then the mean of the channels.

    Equal (to float rounding) to skimage `structural_similarity(..., gaussian_weights=True,
    use_sample_covariance=False, data_range=1, channel_axis=-1, full=True)` on float64 input.
    """
    m = mask.astype(np.float64)
    sums = _ssim_channel_sums(reference, aligned, 1.0, weights=m)
    r = RADIUS
    return float((sums / m[r:-r, r:-r].sum()).mean())


def ssim_skimage(pred: np.ndarray, gt: np.ndarray, *, quantize_pred: bool = True) -> float:
    """skimage per-channel SSIM (Gaussian σ 1.5, population covariance, data range 255),
    mean over the 5-px-cropped map of each channel, then over channels (§1.3)."""
    check_pair(pred, gt)
    a = to_255(pred, quantize_pred)
    b = to_255(gt, False)
    h, w = a.shape[:2]
    sums = _ssim_channel_sums(b, a, 255.0)
    return float((sums / ((h - 2 * RADIUS) * (w - 2 * RADIUS))).mean())


def ssim_basicsr2d(pred: np.ndarray, gt: np.ndarray, *, quantize_pred: bool = True) -> float:
    """BasicSR `_ssim` (OpenCV 11×11 Gaussian σ 1.5, 5-px valid crop, per channel, mean).
    Mathematically the same numbers as `ssim_skimage` (§1.3, measured equal to 1e-14)."""
    return ssim_skimage(pred, gt, quantize_pred=quantize_pred)


def ssim3d(pred: np.ndarray, gt: np.ndarray, *, quantize_pred: bool = True) -> float:
    """NAFNet/MLWNet BasicSR `_ssim_3d` (the MATLAB-style 3-D SSIM, §1.3 convention 2), in
    float64: isotropic 11×11×11 Gaussian σ 1.5 over (row, column, channel), replicate padding
    5 on every axis, C1=(0.01·255)², C2=(0.03·255)², mean over the whole map (no crop)."""
    check_pair(pred, gt)
    a = to_255(pred, quantize_pred)
    b = to_255(gt, False)
    return float(_ssim_channel_sums(a, b, 255.0, volume=True).sum() / a.size)


_SSIM_FUNCTIONS = {
    SsimVariant.ssim3d.value: ssim3d,
    SsimVariant.skimage.value: ssim_skimage,
    SsimVariant.basicsr2d.value: ssim_basicsr2d,
}


def ssim(
    pred: np.ndarray, gt: np.ndarray, variant: str = "ssim3d", *, quantize_pred: bool = True
) -> float:
    """Unaligned SSIM in one of the §1.3 conventions (`ssim3d`, `skimage`, `basicsr2d`) or
    `realblur` (the §1.1 step 5 formula with a mask of ones)."""
    if variant == SsimVariant.realblur.value:
        x = unit_float32(gt, False)
        z = unit_float32(pred, quantize_pred)
        check_pair(z, x)
        return masked_ssim(z, x, np.ones(x.shape[:2], dtype=np.float32))
    try:
        fn = _SSIM_FUNCTIONS[variant]
    except KeyError:
        choices = ", ".join(SSIM_VARIANTS)
        raise InvalidArgumentError(f"unknown SSIM variant {variant!r}; choose {choices}") from None
    return fn(pred, gt, quantize_pred=quantize_pred)
