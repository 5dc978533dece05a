"""Metrics: per-image PSNR/SSIM of the published protocols (protocols.md §1), RealBlur's
ECC-aligned masked ones and the unaligned GoPro conventions. Pure functions of arrays: no file
I/O, no printing, no global OpenCV settings. May import `files` (quantize), `defaults`, `errors`.
"""

from .arrays import as_uint8
from .protocols import score_image
from .realblur import (
    Alignment,
    ecc_align,
    masked_psnr,
    psnr_realblur,
    score_realblur,
    ssim_realblur,
)
from .scores import ImageScore, library_versions
from .ssim import SSIM_VARIANTS, masked_ssim, ssim, ssim3d, ssim_basicsr2d, ssim_skimage
from .unaligned import psnr, score_unaligned

__all__ = [
    "SSIM_VARIANTS",
    "Alignment",
    "ImageScore",
    "as_uint8",
    "ecc_align",
    "library_versions",
    "masked_psnr",
    "masked_ssim",
    "psnr",
    "psnr_realblur",
    "score_image",
    "score_realblur",
    "score_unaligned",
    "ssim",
    "ssim3d",
    "ssim_basicsr2d",
    "ssim_realblur",
    "ssim_skimage",
]
