"""Per-image quality metrics of the published protocols (protocols.md §1): RealBlur's
ECC-aligned masked PSNR/SSIM (§1.1) and the unaligned GoPro PSNR/SSIM conventions (§1.3).

Pure functions of arrays: no file I/O, no printing, no global OpenCV settings.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from importlib import metadata

import cv2
import numpy as np

SSIM_VARIANTS = ("realblur", "ssim3d", "skimage", "basicsr2d")
DEFAULT_ECC_ITERS = 100  # §1.1 step 2: the official script hard-codes 100

# §1.1 step 5 / §1.3: Gaussian window sigma 1.5, truncate 3.5 -> radius int(3.5*1.5+0.5) = 5,
# i.e. 11 taps; the same 11 taps as OpenCV getGaussianKernel(11, 1.5) used by BasicSR.
_SIGMA = 1.5
_RADIUS = int(3.5 * _SIGMA + 0.5)
_K1, _K2 = 0.01, 0.03


def _gaussian_taps() -> np.ndarray:
    # Built exactly like scipy.ndimage's kernel (what skimage's gaussian filter uses).
    x = np.arange(-_RADIUS, _RADIUS + 1, dtype=np.float64)
    phi = np.exp(-0.5 / (_SIGMA * _SIGMA) * x * x)
    return phi / phi.sum()


_TAPS = _gaussian_taps()


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


# --------------------------------------------------------------------------------------
# Input conversion


def quantize(pred: np.ndarray) -> np.ndarray:
    """Float prediction in [0, 1] to uint8 as the published test scripts save it (§1.1):
    floor(clip(pred, 0, 1) * 255 + 0.5), computed in float32 like the official writer."""
    if pred.dtype == np.uint8:
        return pred
    p = np.nan_to_num(np.asarray(pred, dtype=np.float32), nan=0.0)
    return np.floor(np.clip(p, 0.0, 1.0) * np.float32(255) + np.float32(0.5)).astype(np.uint8)


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.ndim != 3 or pred.shape[2] != 3:
        raise ValueError(f"prediction must be H×W×3, got shape {pred.shape}")
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth {gt.shape}")
    if min(gt.shape[:2]) < 2 * _RADIUS + 1:
        raise ValueError(f"image {gt.shape[0]}×{gt.shape[1]} is smaller than the 11×11 SSIM window")


def _unit_float32(img: np.ndarray, quantize_pred: bool) -> np.ndarray:
    """uint8 -> float32/255 exactly as the official script reads PNGs; float -> [0,1] float32."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / np.float32(255)
    if quantize_pred:
        return quantize(img).astype(np.float32) / np.float32(255)
    return np.clip(np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0), 0.0, 1.0)


def _to_255(img: np.ndarray, quantize_pred: bool) -> np.ndarray:
    """Image on the 0..255 scale in float64 (§1.3 metrics work on [0, 255] values)."""
    if img.dtype == np.uint8:
        return img.astype(np.float64)
    if quantize_pred:
        return quantize(img).astype(np.float64)
    return _unit_float32(img, False).astype(np.float64) * 255.0


# --------------------------------------------------------------------------------------
# §1.1 RealBlur: intensity gain, ECC homography, warps, masked PSNR and SSIM


def ecc_align(pred: np.ndarray, gt: np.ndarray, *, iters: int = DEFAULT_ECC_ITERS) -> Alignment:
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

    # Step 2: homography, identity start, COUNT|EPS with eps 0 (always `iters` iterations),
    # no mask, gaussFiltSize 5; grayscale with the RGB weights because arrays are RGB.
    warp = np.eye(3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iters, 0)
    try:
        cc, warp = cv2.findTransformECC(
            cv2.cvtColor(x, cv2.COLOR_RGB2GRAY),
            cv2.cvtColor(zs, cv2.COLOR_RGB2GRAY),
            warp,
            cv2.MOTION_HOMOGRAPHY,
            criteria,
            None,
            5,
        )
        ecc_ok = bool(np.all(np.isfinite(warp))) and math.isfinite(cc)
    except cv2.error:
        ecc_ok = False
    if not ecc_ok:
        return _identity_alignment(zs, x, gain)

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
    zr *= mask[..., None]
    xr = x * mask[..., None]
    return Alignment(zr, xr, mask, warp, True, float(cc), float(gain))


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


# Output rows per strip: the 15 float64 planes of a strip (~4 MB at RealBlur width) stay in
# cache, and no image-sized buffer is allocated (whole-image float64 stacks, ~60 MB, cost
# more in page faults than in arithmetic).
_STRIP_ROWS = 32


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
    r = _RADIUS
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
    r = _RADIUS
    return float((sums / m[r:-r, r:-r].sum()).mean())


def score_realblur(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    ecc_iters: int = DEFAULT_ECC_ITERS,
    quantize_pred: bool = True,
) -> ImageScore:
    """The published RealBlur protocol (§1.1 steps 1-5) for one image.

    Args:
        pred: H×W×3 RGB prediction, uint8 or float in [0, 1] (float is quantised to 8 bits
            first unless `quantize_pred` is False, which reproduces the seed's test.py).
        gt: H×W×3 RGB ground truth, uint8 (or float in [0, 1]).
    """
    _check_pair(pred, gt)
    t0 = time.perf_counter()
    al = ecc_align(_unit_float32(pred, quantize_pred), _unit_float32(gt, False), iters=ecc_iters)
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
    ecc_iters: int = DEFAULT_ECC_ITERS,
    quantize_pred: bool = True,
) -> float:
    """§1.4 `psnr_realblur`. Use `score_realblur` to get both metrics from one alignment."""
    return score_realblur(pred, gt, ecc_iters=ecc_iters, quantize_pred=quantize_pred).psnr


def ssim_realblur(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    ecc_iters: int = DEFAULT_ECC_ITERS,
    quantize_pred: bool = True,
) -> float:
    """§1.4 `ssim_realblur`. Use `score_realblur` to get both metrics from one alignment."""
    return score_realblur(pred, gt, ecc_iters=ecc_iters, quantize_pred=quantize_pred).ssim


# --------------------------------------------------------------------------------------
# §1.3 GoPro / HIDE / paired folders: no alignment, values on the 0..255 scale


def psnr(pred: np.ndarray, gt: np.ndarray, *, quantize_pred: bool = True) -> float:
    """Plain RGB PSNR over all pixels and channels, peak 255 (§1.3); inf when equal.
    The peak is fixed, never guessed from the data (seed quirk §1.5.6)."""
    _check_pair(pred, gt)
    a = _to_255(pred, quantize_pred)
    b = _to_255(gt, False)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


def ssim_skimage(pred: np.ndarray, gt: np.ndarray, *, quantize_pred: bool = True) -> float:
    """skimage per-channel SSIM (Gaussian σ 1.5, population covariance, data range 255),
    mean over the 5-px-cropped map of each channel, then over channels (§1.3)."""
    _check_pair(pred, gt)
    a = _to_255(pred, quantize_pred)
    b = _to_255(gt, False)
    h, w = a.shape[:2]
    sums = _ssim_channel_sums(b, a, 255.0)
    return float((sums / ((h - 2 * _RADIUS) * (w - 2 * _RADIUS))).mean())


def ssim_basicsr2d(pred: np.ndarray, gt: np.ndarray, *, quantize_pred: bool = True) -> float:
    """BasicSR `_ssim` (OpenCV 11×11 Gaussian σ 1.5, 5-px valid crop, per channel, mean).
    Mathematically the same numbers as `ssim_skimage` (§1.3, measured equal to 1e-14)."""
    return ssim_skimage(pred, gt, quantize_pred=quantize_pred)


def _channel_mix_replicate(n: int) -> np.ndarray:
    """n×n matrix of the 11-tap Gaussian along an axis of length n with replicate padding 5."""
    m = np.zeros((n, n), dtype=np.float64)
    for k in range(n):
        for j, g in enumerate(_TAPS):
            m[k, min(max(k + j - _RADIUS, 0), n - 1)] += g
    return m


def ssim3d(pred: np.ndarray, gt: np.ndarray, *, quantize_pred: bool = True) -> float:
    """NAFNet/MLWNet BasicSR `_ssim_3d` (the MATLAB-style 3-D SSIM, §1.3 convention 2), in
    float64: isotropic 11×11×11 Gaussian σ 1.5 over (row, column, channel), replicate padding
    5 on every axis, C1=(0.01·255)², C2=(0.03·255)², mean over the whole map (no crop)."""
    _check_pair(pred, gt)
    a = _to_255(pred, quantize_pred)
    b = _to_255(gt, False)
    return float(_ssim_channel_sums(a, b, 255.0, volume=True).sum() / a.size)


_SSIM_FUNCTIONS = {
    "ssim3d": ssim3d,
    "skimage": ssim_skimage,
    "basicsr2d": ssim_basicsr2d,
}


def ssim(
    pred: np.ndarray, gt: np.ndarray, variant: str = "ssim3d", *, quantize_pred: bool = True
) -> float:
    """Unaligned SSIM in one of the §1.3 conventions (`ssim3d`, `skimage`, `basicsr2d`) or
    `realblur` (the §1.1 step 5 formula with a mask of ones)."""
    if variant == "realblur":
        x = _unit_float32(gt, False)
        z = _unit_float32(pred, quantize_pred)
        _check_pair(z, x)
        return masked_ssim(z, x, np.ones(x.shape[:2], dtype=np.float32))
    try:
        fn = _SSIM_FUNCTIONS[variant]
    except KeyError:
        raise ValueError(f"unknown SSIM variant {variant!r}; choose from {SSIM_VARIANTS}") from None
    return fn(pred, gt, quantize_pred=quantize_pred)


def score_unaligned(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    ssim_variant: str = "ssim3d",
    quantize_pred: bool = True,
) -> ImageScore:
    """§1.3: PSNR (peak 255) and SSIM without any registration (GoPro, HIDE, paired folders)."""
    _check_pair(pred, gt)
    if pred.dtype != np.uint8 and quantize_pred:
        pred = quantize(pred)  # once, not once per metric
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


def score_image(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    align: bool,
    ssim_variant: str = "realblur",
    ecc_iters: int = DEFAULT_ECC_ITERS,
    quantize_pred: bool = True,
) -> ImageScore:
    """One image under either protocol: §1.1 when `align`, else §1.3 with `ssim_variant`."""
    if align:
        if ssim_variant != "realblur":
            raise ValueError("ECC alignment is only defined with the 'realblur' SSIM (§1.1)")
        return score_realblur(pred, gt, ecc_iters=ecc_iters, quantize_pred=quantize_pred)
    return score_unaligned(pred, gt, ssim_variant=ssim_variant, quantize_pred=quantize_pred)
