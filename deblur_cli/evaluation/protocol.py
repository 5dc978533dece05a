"""How images are scored (protocols.md §1.6): aligned RealBlur or unaligned GoPro conventions,
the SSIM variant, ECC iterations and 8-bit rounding, recorded with the library versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import metrics
from ..defaults import ECC_ITERS, SsimVariant
from ..errors import InvalidArgumentError

# The settings that change the numbers: a results file is resumed only when they agree.
PROTOCOL_KEYS = ("align", "ssim", "ecc_iters", "quantize")


@dataclass(frozen=True)
class Protocol:
    """How images are scored. `align` selects §1.1 (ECC, masked, `ssim` must be `realblur`);
    otherwise §1.3 with the `ssim` convention. `quantize` rounds float predictions to 8 bits."""

    align: bool
    ssim: str
    ecc_iters: int = ECC_ITERS
    quantize: bool = True

    def __post_init__(self) -> None:
        if self.ssim not in metrics.SSIM_VARIANTS:
            choices = ", ".join(metrics.SSIM_VARIANTS)
            raise InvalidArgumentError(f"unknown SSIM variant {self.ssim!r}; choose {choices}")
        if self.align and self.ssim != SsimVariant.realblur.value:
            raise InvalidArgumentError(
                "ECC alignment is only defined with the 'realblur' SSIM (§1.1)"
            )
        if self.ecc_iters < 1:
            raise InvalidArgumentError("ecc_iters must be at least 1")

    def as_dict(self) -> dict[str, Any]:
        """The protocol plus the library versions, as recorded in reports (§1.6)."""
        return {
            "align": "ecc" if self.align else "none",
            "ssim": self.ssim,
            "ecc_iters": self.ecc_iters if self.align else None,
            "quantize": self.quantize,
            "libraries": metrics.library_versions(),
        }


def default_protocol(
    dataset: str,
    *,
    align: bool | None = None,
    ssim: str | None = None,
    ecc_iters: int = ECC_ITERS,
    quantize: bool = True,
) -> Protocol:
    """§1.6 defaults: RealBlur -> ECC + masked SSIM; GoPro and paired folders -> no alignment
    + `ssim3d` (§1.3). `align=True` on paired folders enables the RealBlur protocol."""
    if align is None:
        align = dataset.startswith("realblur")
    if ssim is None:
        ssim = SsimVariant.realblur.value if align else SsimVariant.ssim3d.value
    return Protocol(align=align, ssim=ssim, ecc_iters=ecc_iters, quantize=quantize)
