"""A straight transcription of the official RealBlur evaluation script (protocols.md §1.1),
the reference the metrics and the CLI are checked against."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity


def official_realblur(deblurred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """rimchang/RealBlur `evaluation_RealBlur_ecc.py` steps on float32 arrays in [0, 1], with
    skimage's float64 cast that 0.17.2 did implicitly and `channel_axis` for skimage >= 0.19."""
    z, x = deblurred, gt
    zs = (np.sum(x * z) / np.sum(z * z)) * z
    warp = np.eye(3, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 0)
    _, warp = cv2.findTransformECC(
        cv2.cvtColor(x, cv2.COLOR_RGB2GRAY),
        cv2.cvtColor(zs, cv2.COLOR_RGB2GRAY),
        warp,
        cv2.MOTION_HOMOGRAPHY,
        criteria,
        inputMask=None,
        gaussFiltSize=5,
    )
    h, w = x.shape[:2]
    flags = cv2.WARP_INVERSE_MAP
    zr = cv2.warpPerspective(
        zs, warp, (w, h), flags=cv2.INTER_CUBIC + flags, borderMode=cv2.BORDER_REFLECT
    )
    cr = cv2.warpPerspective(
        np.ones_like(zs, dtype="float32"),
        warp,
        (w, h),
        flags=cv2.INTER_NEAREST + flags,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    zr, xr = zr * cr, x * cr
    _, smap = structural_similarity(
        xr.astype(np.float64),
        zr.astype(np.float64),
        channel_axis=-1,
        gaussian_weights=True,
        use_sample_covariance=False,
        data_range=1.0,
        full=True,
    )
    smap = (smap * cr)[5:-5, 5:-5, :]
    crop = cr[5:-5, 5:-5, :]
    ssim_value = np.mean(smap.sum(axis=0).sum(axis=0) / crop.sum(axis=0).sum(axis=0))
    err = np.sum((xr - zr) ** 2, dtype=np.float64) / np.sum(cr)
    return float(10 * np.log10(1 / err)), float(ssim_value)
