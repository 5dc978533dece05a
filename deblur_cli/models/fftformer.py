"""FFTformer (Kong et al., CVPR 2023) at its published config (spec: `architectures.md` §2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .blocks import DFFN, FSAS, FFTLayerNorm, check_input_size, memory_format_of
from .detection import Shapes, count_blocks, leading_size, width_ratio

SIZE_MULTIPLE = 32  # 8-px FFT patches at 1/4 resolution


@dataclass(frozen=True)
class FFTformerConfig:
    dim: int = 48
    num_blocks: tuple[int, ...] = (6, 6, 12)  # the official 4th entry is never used
    num_refinement_blocks: int = 4
    ffn_expansion_factor: float = 3
    bias: bool = False
    in_channels: int = 3
    out_channels: int = 3


class TransformerBlock(nn.Module):
    """Optional FSAS (decoder/refinement) then DFFN, each pre-normalised and residual."""

    def __init__(self, dim: int, expansion: float, bias: bool, attention: bool) -> None:
        super().__init__()
        self.attention = attention
        if attention:
            self.norm1 = FFTLayerNorm(dim)
            self.attn = FSAS(dim, bias)
        self.norm2 = FFTLayerNorm(dim)
        self.ffn = DFFN(dim, expansion, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.attention:
            x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class Fuse(nn.Module):
    """Skip fusion: PW on [upsampled, skip], a DFFN block at expansion 2.66, PW, sum of halves."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.att_channel = TransformerBlock(2 * n, 2.66, bias=False, attention=False)
        self.conv = nn.Conv2d(2 * n, 2 * n, 1)
        self.conv2 = nn.Conv2d(2 * n, 2 * n, 1)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        z = self.conv2(self.att_channel(self.conv(torch.cat([first, second], dim=1))))
        return z[:, : self.n] + z[:, self.n :]


class _Resample(nn.Module):
    """Bilinear resize then 3x3 conv; keys `body.1.*` (index 0 is the resize)."""

    def __init__(self, c_in: int, c_out: int, scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Upsample(scale_factor=scale, mode="bilinear", align_corners=False),
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _PatchEmbed(nn.Module):
    def __init__(self, c_in: int, dim: int, bias: bool) -> None:
        super().__init__()
        self.proj = nn.Conv2d(c_in, dim, 3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def _stage(n: int, dim: int, cfg: FFTformerConfig, attention: bool) -> nn.Sequential:
    return nn.Sequential(
        *(TransformerBlock(dim, cfg.ffn_expansion_factor, cfg.bias, attention) for _ in range(n))
    )


class FFTformer(nn.Module):
    """Three-level encoder-decoder of DFFN blocks with FSAS in the decoder; global residual."""

    arch_name = "fftformer"

    def __init__(self, config: FFTformerConfig) -> None:
        super().__init__()
        self.config = config
        c, (n1, n2, n3) = config.dim, config.num_blocks[:3]
        # Registration order is the published state-dict order (architectures §2).
        self.patch_embed = _PatchEmbed(config.in_channels, c, config.bias)
        self.encoder_level1 = _stage(n1, c, config, attention=False)
        self.down1_2 = _Resample(c, 2 * c, 0.5)
        self.encoder_level2 = _stage(n2, 2 * c, config, attention=False)
        self.down2_3 = _Resample(2 * c, 4 * c, 0.5)
        self.encoder_level3 = _stage(n3, 4 * c, config, attention=False)
        self.decoder_level3 = _stage(n3, 4 * c, config, attention=True)
        self.up3_2 = _Resample(4 * c, 2 * c, 2.0)
        # Registered but never used upstream; kept so the published checkpoints load strictly.
        self.reduce_chan_level2 = nn.Conv2d(4 * c, 2 * c, 1, bias=config.bias)
        self.decoder_level2 = _stage(n2, 2 * c, config, attention=True)
        self.up2_1 = _Resample(2 * c, c, 2.0)
        self.decoder_level1 = _stage(n1, c, config, attention=True)
        self.refinement = _stage(config.num_refinement_blocks, c, config, attention=True)
        self.fuse2 = Fuse(2 * c)
        self.fuse1 = Fuse(c)
        self.output = nn.Conv2d(c, config.out_channels, 3, padding=1, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self.arch_name, x, SIZE_MULTIPLE)
        # Every block starts with a LayerNorm over channels: channels_last features make those
        # copy-free, and the 1x1 convs and patch transforms keep that layout throughout.
        e1 = self.encoder_level1(self.patch_embed(x).contiguous(memory_format=torch.channels_last))
        e2 = self.encoder_level2(self.down1_2(e1))
        d3 = self.decoder_level3(self.encoder_level3(self.down2_3(e2)))
        d2 = self.decoder_level2(self.fuse2(self.up3_2(d3), e2))
        d1 = self.decoder_level1(self.fuse1(self.up2_1(d2), e1))
        return (self.output(self.refinement(d1)) + x).contiguous(memory_format=memory_format_of(x))


def detect(shapes: Shapes) -> dict[str, Any] | None:
    """Config overrides read from a state dict's shapes, or None if it is not an FFTformer."""
    if "patch_embed.proj.weight" not in shapes:
        return None
    dim, in_channels = shapes["patch_embed.proj.weight"][:2]
    out = shapes.get("encoder_level1.0.ffn.project_out.weight")
    hidden = out[1] if out and len(out) > 1 else 3 * dim
    # the model computes hidden = int(dim * factor); +0.5 keeps int() on the right side
    factor = width_ratio(hidden, dim) if hidden % dim == 0 else (hidden + 0.5) / dim
    return {
        "dim": dim,
        "num_blocks": tuple(count_blocks(shapes, f"encoder_level{i}.") for i in (1, 2, 3)),
        "num_refinement_blocks": count_blocks(shapes, "refinement."),
        "ffn_expansion_factor": factor,
        "bias": "encoder_level1.0.ffn.project_in.bias" in shapes,
        "in_channels": in_channels,
        "out_channels": leading_size(shapes, "output.weight", in_channels),
    }
