"""CE-MLWNet, the seed project's channel-efficient MLWNet (spec: `architectures.md` §5):
concatenation + 1x1 fusion, dilated encoder blocks with a grouped gate, a 5x5+3x3 depthwise pair
in the wavelet unit and 16 bottleneck blocks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .blocks import (
    DilatedNAFBlock,
    Heads,
    WaveletBlock,
    check_input_size,
    down_conv,
    total_wavelet_loss,
    up_shuffle,
)
from .detection import Shapes, has_prefix, leading_size, width_ratio

SIZE_MULTIPLE = 16
WAVELET_KERNELS = (5, 3)


@dataclass(frozen=True)
class CEMLWNetConfig:
    dim: int = 32
    expand_dim: float = 2.0  # width ratio between levels; only 2 exists (architectures §9 #8)
    aux_heads: bool = False  # True only to load or train the seed's training checkpoints
    in_channels: int = 3
    out_channels: int = 3


def _naf_stage(n: int, c: int, level: int) -> nn.Sequential:
    return nn.Sequential(*(DilatedNAFBlock(c, level) for _ in range(n)))


def _wavelet_stage(n: int, c: int, level: int) -> nn.Sequential:
    return nn.Sequential(*(WaveletBlock(c, WAVELET_KERNELS, level) for _ in range(n)))


class _Head(nn.Module):
    """Bare 3x3 conv to RGB; keys `block.*` (no `.0.`, unlike MLWNet)."""

    def __init__(self, c: int, out_channels: int) -> None:
        super().__init__()
        self.block = nn.Conv2d(c, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def _reduce(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 1, bias=False)


class Encoder(nn.Module):
    def __init__(self, c: int, in_channels: int) -> None:
        super().__init__()
        self.feature_embed = nn.Conv2d(in_channels, c, 3, padding=1)
        self.b1 = _naf_stage(1, c, 0)
        self.down1 = down_conv(c)
        self.b2 = _naf_stage(2, 2 * c, 1)
        self.down2 = down_conv(2 * c)
        self.b3 = _naf_stage(4, 4 * c, 2)
        self.down3 = down_conv(4 * c)
        self.b4 = _naf_stage(16, 8 * c, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        e1 = self.b1(self.feature_embed(x))
        e2 = self.b2(self.down1(e1))
        e3 = self.b3(self.down2(e2))
        e4 = self.b4(self.down3(e3))
        return e1, e2, e3, e4


class Fusion(nn.Module):
    """Refines the level-3 and level-2 skips: cat[upsampled, skip] then a 1x1 reduction."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.up43 = up_shuffle(8 * c, bias=False)
        self.ch_reduce3 = _reduce(8 * c, 4 * c)
        self.d3 = _wavelet_stage(2, 4 * c, 2)
        self.up32 = up_shuffle(4 * c, bias=False)
        self.ch_reduce2 = _reduce(4 * c, 2 * c)
        self.d2 = _wavelet_stage(2, 2 * c, 1)

    def forward(
        self, e2: torch.Tensor, e3: torch.Tensor, e4: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        f3 = self.d3(self.ch_reduce3(torch.cat([self.up43(e4), e3], dim=1)))
        f2 = self.d2(self.ch_reduce2(torch.cat([self.up32(f3), e2], dim=1)))
        return f2, f3


class Decoder(nn.Module):
    def __init__(self, c: int, out_channels: int, aux_heads: bool) -> None:
        super().__init__()
        # Registration order is the published state-dict order (architectures §5).
        self.alpha = nn.Parameter(torch.zeros(1, 2 * c, 1, 1))
        self.d4 = _wavelet_stage(2, 8 * c, 3)
        self.up43 = up_shuffle(8 * c, bias=False)
        self.ch_reduce3 = _reduce(8 * c, 4 * c)
        self.d3 = _wavelet_stage(2, 4 * c, 2)
        self.up32 = up_shuffle(4 * c, bias=False)
        self.ch_reduce2 = _reduce(4 * c, 2 * c)
        self.d2 = _wavelet_stage(2, 2 * c, 1)
        self.up21 = up_shuffle(2 * c, bias=False)
        self.ch_reduce1 = _reduce(2 * c, c)
        self.d1 = _wavelet_stage(2, c, 0)
        self.head1 = _Head(c, out_channels)
        self.aux_heads = aux_heads
        if aux_heads:
            self.head2 = _Head(2 * c, out_channels)
            self.head3 = _Head(4 * c, out_channels)
            self.head4 = _Head(8 * c, out_channels)

    def forward(
        self,
        e1: torch.Tensor,
        e4: torch.Tensor,
        f2: torch.Tensor,
        f3: torch.Tensor,
        return_aux: bool,
    ) -> Heads:
        z4 = self.d4(e4)
        z3 = self.d3(self.ch_reduce3(torch.cat([self.up43(z4), f3], dim=1)))
        z2 = self.d2(self.ch_reduce2(torch.cat([self.up32(z3), f2], dim=1)))
        z1 = self.d1(self.ch_reduce1(torch.cat([self.up21(z2 + self.alpha * f2), e1], dim=1)))
        out = self.head1(z1)
        if not (return_aux and self.aux_heads):
            return out, None, None, None
        return out, self.head2(z2), self.head3(z3), self.head4(z4)


class CEMLWNet(nn.Module):
    """Channel-efficient MLWNet.

    `forward(x)` returns the restored image (global residual included). In training mode or
    with `return_aux=True` it returns `(out, aux2, aux3, aux4)`, the aux entries `None` when
    the model was built with `aux_heads=False` (the inference config).
    """

    arch_name = "ce-mlwnet"

    def __init__(self, config: CEMLWNetConfig) -> None:
        super().__init__()
        if config.expand_dim != 2.0:
            raise ValueError(f"ce-mlwnet: expand_dim must be 2.0 (got {config.expand_dim})")
        self.config = config
        c = config.dim
        self.encoder = Encoder(c, config.in_channels)
        self.fusion = Fusion(c)
        self.decoder = Decoder(c, config.out_channels, config.aux_heads)

    def forward(self, x: torch.Tensor, return_aux: bool | None = None) -> torch.Tensor | Heads:
        check_input_size(self.arch_name, x, SIZE_MULTIPLE)
        aux = self.training if return_aux is None else return_aux
        e1, e2, e3, e4 = self.encoder(x)
        f2, f3 = self.fusion(e2, e3, e4)
        out, *heads = self.decoder(e1, e4, f2, f3, aux)
        out = out + x
        return (out, *heads) if aux else out

    def wavelet_loss(self) -> torch.Tensor:
        return total_wavelet_loss(self)


def detect(shapes: Shapes) -> dict[str, Any] | None:
    """Config overrides read from a state dict's shapes, or None if it is not a CE-MLWNet."""
    if "encoder.feature_embed.weight" not in shapes or not has_prefix(shapes, "fusion.ch_reduce"):
        return None
    dim, in_channels = shapes["encoder.feature_embed.weight"][:2]
    return {
        "dim": dim,
        "expand_dim": width_ratio(leading_size(shapes, "encoder.down1.weight", 2 * dim), dim),
        "in_channels": in_channels,
        "out_channels": leading_size(shapes, "decoder.head1.block.weight", 3),
    }
