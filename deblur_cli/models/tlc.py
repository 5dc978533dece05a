"""Test-time local converter (TLC/TLSC, spec `architectures.md` §3.4), for any model built from
`blocks.SCAPool`: every global channel-attention pool becomes a local average pool whose kernel
is fixed from a reference (training) size, so full-image inference sees the statistics window the
network was trained with."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import SCAPool


@dataclass(frozen=True)
class TLCConfig:
    """Reference sizes; `base_size=None` means int(1.5 * train_size) per axis (the default)."""

    train_size: tuple[int, int] = (256, 256)
    base_size: tuple[int, int] | None = None

    @property
    def base(self) -> tuple[int, int]:
        if self.base_size is not None:
            return self.base_size
        return (int(1.5 * self.train_size[0]), int(1.5 * self.train_size[1]))


def local_kernel(level: int, config: TLCConfig) -> tuple[int, int]:
    """Kernel of a pool at pyramid `level`: (train >> level) * base // train per axis.

    `train >> level` is the pool's input size for a training-size input (stride-2 downsamplers),
    which upstream measured with a dummy forward pass; the closed form needs none.
    """
    (th, tw), (bh, bw) = config.train_size, config.base
    return ((th >> level) * bh // th, (tw >> level) * bw // tw)


class LocalAvgPool(nn.Module):
    """Mean over every kernel-sized window inside the feature, replicate-padded back to its size.

    Falls back to the global mean when the kernel covers both axes; if only one axis is covered
    the window is clipped to that axis. Window sums come from a float64 integral image: float32
    pooling kernels drift by ~2e-4 at full width (architectures §3.4, §10).
    """

    def __init__(self, kernel_size: tuple[int, int], level: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.level = level

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, level={self.level}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        kh, kw = self.kernel_size
        if kh >= h and kw >= w:
            return F.adaptive_avg_pool2d(x, 1)
        k1, k2 = min(h, kh), min(w, kw)
        s = x.double().cumsum(dim=-1).cumsum(dim=-2)
        s = F.pad(s, (1, 0, 1, 0))
        window = s[..., k1:, k2:] - s[..., :-k1, k2:] - s[..., k1:, :-k2] + s[..., :-k1, :-k2]
        out = (window / (k1 * k2)).to(x.dtype)
        dh, dw = h - out.shape[-2], w - out.shape[-1]
        # Extra row/column to the bottom/right: matters for the (even) published kernels.
        return F.pad(out, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode="replicate")


def apply_tlc(model: nn.Module, config: TLCConfig | None = None) -> nn.Module:
    """Swap every global SCA pool of `model` for a local one, in place; returns `model`.

    Works on any model whose channel attention uses `SCAPool` (MLWNet, CE-MLWNet, HybridNet's
    encoder). A model without such pools (FFTformer) is returned unchanged.
    """
    config = config or TLCConfig()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SCAPool):
                setattr(parent, name, LocalAvgPool(local_kernel(child.level, config), child.level))
    model.tlc_config = config  # type: ignore[assignment]  # read by reports; state dict unchanged
    return model


def count_sca_pools(model: nn.Module) -> int:
    """Number of channel-attention pools (global or local) in `model`."""
    return sum(isinstance(m, (SCAPool, LocalAvgPool)) for m in model.modules())
