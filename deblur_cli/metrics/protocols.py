"""One image under either published protocol: RealBlur's aligned one (§1.1) or the unaligned
one of GoPro and paired folders (§1.3)."""

from __future__ import annotations

import numpy as np

from ..defaults import ECC_ITERS, SsimVariant
from ..errors import InvalidArgumentError
from .realblur import score_realblur
from .scores import ImageScore
from .unaligned import score_unaligned


def score_image(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    align: bool,
    ssim_variant: str = SsimVariant.realblur.value,
    ecc_iters: int = ECC_ITERS,
    quantize_pred: bool = True,
) -> ImageScore:
    """One image under either protocol: §1.1 when `align`, else §1.3 with `ssim_variant`."""
    if align:
        if ssim_variant != SsimVariant.realblur.value:
            raise InvalidArgumentError(
                "ECC alignment is only defined with the 'realblur' SSIM (§1.1)"
            )
        return score_realblur(pred, gt, ecc_iters=ecc_iters, quantize_pred=quantize_pred)
    return score_unaligned(pred, gt, ssim_variant=ssim_variant, quantize_pred=quantize_pred)
