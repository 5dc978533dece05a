"""HybridNet, the seed project's NAFNet-style backbone with FFTformer's DFFN in its bridge and
decoder (spec: `architectures.md` §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import (
    DFFN,
    DilatedNAFBlock,
    Heads,
    LayerNorm2d,
    check_input_size,
    down_conv,
    up_shuffle,
)
from .detection import Shapes, has_prefix, leading_size, width_ratio

SIZE_MULTIPLE = 64  # 8-px DFFN patches at 1/8 resolution


@dataclass(frozen=True)
class HybridNetConfig:
    dim: int = 32
    expand_dim: float = 2.0  # width ratio between levels; only 2 exists
    aux_heads: bool = False  # True only to load or train the seed's training checkpoints
    use_bridge: bool = True
    in_channels: int = 3
    out_channels: int = 3


class DecoderBlock(nn.Module):
    """PW c->4c, two DW 3x3, GELU, PW 4c->c, residual; then a biased DFFN (e = 2), residual."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.conv1_pw = nn.Conv2d(c, 4 * c, 1)
        self.conv2_pw = nn.Sequential(
            nn.Conv2d(4 * c, 4 * c, 3, padding=1, groups=4 * c),
            nn.Conv2d(4 * c, 4 * c, 3, padding=1, groups=4 * c),
        )
        self.conv3_pw = nn.Conv2d(4 * c, c, 1)
        self.ffn = DFFN(c, 2.0, bias=True)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.conv3_pw(F.gelu(self.conv2_pw(self.conv1_pw(self.norm1(x)))))
        x = torch.addcmul(x, self.beta, t)
        return torch.addcmul(x, self.gamma, self.ffn(self.norm2(x)))


def _decoder_stage(n: int, c: int) -> nn.Sequential:
    return nn.Sequential(*(DecoderBlock(c) for _ in range(n)))


def _skip_merge(skip: torch.Tensor, up: torch.Tensor, reduce: nn.Module) -> torch.Tensor:
    return reduce(torch.cat([skip, up], dim=1))  # HybridNet concatenates [skip, upsampled]


class _Embedding(nn.Module):
    def __init__(self, in_channels: int, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Encoder(nn.Module):
    """Dilated NAF blocks (1, 2, 4, 16 per level); the stages are called `fuseN` upstream."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.fuse1 = nn.Sequential(DilatedNAFBlock(c, 0))
        self.down1 = down_conv(c)
        self.fuse2 = nn.Sequential(*(DilatedNAFBlock(2 * c, 1) for _ in range(2)))
        self.down2 = down_conv(2 * c)
        self.fuse3 = nn.Sequential(*(DilatedNAFBlock(4 * c, 2) for _ in range(4)))
        self.down3 = down_conv(4 * c)
        self.fuse4 = nn.Sequential(*(DilatedNAFBlock(8 * c, 3) for _ in range(16)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x1 = self.fuse1(x)
        x2 = self.fuse2(self.down1(x1))
        x3 = self.fuse3(self.down2(x2))
        x4 = self.fuse4(self.down3(x3))
        return x1, x2, x3, x4


class Bridge(nn.Module):
    """Top-down refinement of the skips x3, x2, x1 (x4 passes through)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.up4 = up_shuffle(8 * c, bias=True)
        self.ch_reduce3 = nn.Conv2d(8 * c, 4 * c, 1)
        self.fuse3 = _decoder_stage(2, 4 * c)
        self.up3 = up_shuffle(4 * c, bias=True)
        self.ch_reduce2 = nn.Conv2d(4 * c, 2 * c, 1)
        self.fuse2 = _decoder_stage(2, 2 * c)
        self.up2 = up_shuffle(2 * c, bias=True)
        self.ch_reduce1 = nn.Conv2d(2 * c, c, 1)

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor, x4: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x3 = self.fuse3(_skip_merge(x3, self.up4(x4), self.ch_reduce3))
        x2 = self.fuse2(_skip_merge(x2, self.up3(x3), self.ch_reduce2))
        x1 = _skip_merge(x1, self.up2(x2), self.ch_reduce1)
        return x1, x2, x3, x4


class Decoder(nn.Module):
    def __init__(self, c: int, out_channels: int, aux_heads: bool) -> None:
        super().__init__()
        # Registration order is the published state-dict order (architectures §4).
        self.fuse4 = _decoder_stage(5, 8 * c)
        self.up4 = up_shuffle(8 * c, bias=True)
        self.ch_reduce3 = nn.Conv2d(8 * c, 4 * c, 1)
        self.fuse3 = _decoder_stage(4, 4 * c)
        self.up3 = up_shuffle(4 * c, bias=True)
        self.ch_reduce2 = nn.Conv2d(4 * c, 2 * c, 1)
        self.fuse2 = _decoder_stage(3, 2 * c)
        self.up2 = up_shuffle(2 * c, bias=True)
        self.ch_reduce1 = nn.Conv2d(2 * c, c, 1)
        self.fuse1 = _decoder_stage(2, c)
        self.aux_heads = aux_heads
        if aux_heads:
            self.aux_head4 = nn.Conv2d(8 * c, out_channels, 3, padding=1)
            self.aux_head3 = nn.Conv2d(4 * c, out_channels, 3, padding=1)
            self.aux_head2 = nn.Conv2d(2 * c, out_channels, 3, padding=1)
        self.head = nn.Conv2d(c, out_channels, 3, padding=1)

    def forward(
        self,
        x1: torch.Tensor,
        x2: torch.Tensor,
        x3: torch.Tensor,
        x4: torch.Tensor,
        return_aux: bool,
    ) -> Heads:
        y4 = self.fuse4(x4)
        y3 = self.fuse3(_skip_merge(x3, self.up4(y4), self.ch_reduce3))
        y2 = self.fuse2(_skip_merge(x2, self.up3(y3), self.ch_reduce2))
        y1 = self.fuse1(_skip_merge(x1, self.up2(y2), self.ch_reduce1))
        out = self.head(y1)
        if not (return_aux and self.aux_heads):
            return out, None, None, None
        return out, self.aux_head2(y2), self.aux_head3(y3), self.aux_head4(y4)


class HybridNet(nn.Module):
    """NAFNet-style encoder, DFFN bridge and decoder.

    `forward(x)` returns the restored image (global residual included). In training mode or
    with `return_aux=True` it returns `(out, aux2, aux3, aux4)`, the aux entries `None` when
    the model was built with `aux_heads=False` (the inference config).
    """

    arch_name = "hybridnet"

    def __init__(self, config: HybridNetConfig) -> None:
        super().__init__()
        if config.expand_dim != 2.0:
            raise ValueError(f"hybridnet: expand_dim must be 2.0 (got {config.expand_dim})")
        self.config = config
        c = config.dim
        self.embedding = _Embedding(config.in_channels, c)
        self.encoder = Encoder(c)
        if config.use_bridge:
            self.bridge = Bridge(c)
        self.decoder = Decoder(c, config.out_channels, config.aux_heads)

    def forward(self, x: torch.Tensor, return_aux: bool | None = None) -> torch.Tensor | Heads:
        check_input_size(self.arch_name, x, SIZE_MULTIPLE)
        aux = self.training if return_aux is None else return_aux
        feats = self.encoder(self.embedding(x))
        if self.config.use_bridge:
            feats = self.bridge(*feats)
        out, *heads = self.decoder(*feats, aux)
        out = out + x
        return (out, *heads) if aux else out


def detect(shapes: Shapes) -> dict[str, Any] | None:
    """Config overrides read from a state dict's shapes, or None if it is not a HybridNet."""
    if "embedding.conv.weight" not in shapes:
        return None
    dim, in_channels = shapes["embedding.conv.weight"][:2]
    return {
        "dim": dim,
        "expand_dim": width_ratio(leading_size(shapes, "encoder.down1.weight", 2 * dim), dim),
        "use_bridge": has_prefix(shapes, "bridge."),
        "in_channels": in_channels,
        "out_channels": leading_size(shapes, "decoder.head.weight", 3),
    }
