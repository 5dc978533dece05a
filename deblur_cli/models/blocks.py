"""Layers shared by the four networks: norms, gates, patch-FFT ops, the learnable wavelet unit
and the NAF-style blocks (spec: `architectures.md` §1)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputSizeError
from .patch_dft import (
    DEFAULT_FFT_IMPL,
    FFT_IMPLS,
    PATCH,
    FftImpl,
    fp32_matmul_ok,
    patch_circular_conv,
    patch_filter,
    pointwise_patch_filter,
)

# A multi-scale forward: the image, then the 1/2, 1/4, 1/8 auxiliary heads (None when skipped).
Heads = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]


def check_input_size(model_name: str, x: torch.Tensor, multiple: int) -> None:
    """Raise a clear error when H or W is not a multiple of the model's size multiple."""
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise InputSizeError(
            f"{model_name}: input size {h}x{w} is not a multiple of {multiple}; "
            f"pad H and W to multiples of {multiple} first (deblur's inference layer does this)"
        )


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """channels_last when `x` is stored so; reshaping steps (patching, sub-band reordering)
    produce NCHW tensors, and handing them back in the caller's format keeps the following
    convolutions on the fast channels_last kernels (measured 3-7x on CPU depthwise convs)."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


# --------------------------------------------------------------------------------------------
# Normalisations (§1.1): same statistic, different eps and key layout. Kept as two classes.


class LayerNorm2d(nn.Module):
    """Channel LayerNorm of the MLWNet family, eps 1e-6, keys `weight`/`bias`."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class _WithBiasBody(nn.Module):
    """Normalises the last (channel) axis; called as a module so profilers see it as upstream."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, 1e-5)


class FFTLayerNorm(nn.Module):
    """FFTformer's "WithBias" channel LayerNorm, eps 1e-5, keys `body.weight`/`body.bias`."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = _WithBiasBody(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


# --------------------------------------------------------------------------------------------
# Gates (§1.2)


def simple_gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return a * b


def group_simple_gate(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Simple gate applied inside each of `groups` consecutive channel groups."""
    return torch.cat([simple_gate(g) for g in x.chunk(groups, dim=1)], dim=1)


# --------------------------------------------------------------------------------------------
# Channel attention pool: the module the test-time local converter swaps (§3.4)


class SCAPool(nn.Module):
    """Global average pool of a simplified channel attention.

    `level` is the pyramid level of the feature it sees (full resolution = 0); the test-time
    local converter reads it to derive the local kernel analytically.
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, 1)


def make_sca(channels: int, level: int) -> nn.Sequential:
    """SCA: pool then a biased 1x1 conv; keys `sca.1.*` (index 0 is parameter-free)."""
    return nn.Sequential(SCAPool(level), nn.Conv2d(channels, channels, 1))


# --------------------------------------------------------------------------------------------
# Patch-FFT operations (§1.3). The transforms live in `patch_dft`: exact matrix products by
# default ("matmul"), the published torch.fft calls on request ("torch"); see `set_fft_impl`.


class DFFN(nn.Module):
    """Discriminative frequency-domain FFN: PW, per-patch learnable spectral gain, DW, GELU gate."""

    def __init__(self, dim: int, expansion: float, bias: bool) -> None:
        super().__init__()
        hidden = int(dim * expansion)  # truncation, as upstream: 192 * 2.66 -> 510
        self.fft = nn.Parameter(torch.ones(hidden * 2, 1, 1, PATCH, PATCH // 2 + 1))
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)
        self.fft_impl: FftImpl = DEFAULT_FFT_IMPL

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmt = memory_format_of(x)
        pw = self.project_in
        if self.fft_impl == "matmul" and fp32_matmul_ok(x) and not _has_hooks(pw):
            x = pointwise_patch_filter(x, pw.weight, pw.bias, self.fft)
        else:
            x = patch_filter(self.project_in(x), self.fft, self.fft_impl)
        x = x.contiguous(memory_format=fmt)
        x1, x2 = self.dwconv(x).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class FSAS(nn.Module):
    """Frequency-domain self-attention of FFTformer's decoder (circular patch correlation)."""

    def __init__(self, dim: int, bias: bool) -> None:
        super().__init__()
        self.to_hidden = nn.Conv2d(dim, dim * 6, 1, bias=bias)
        self.to_hidden_dw = nn.Conv2d(dim * 6, dim * 6, 3, padding=1, groups=dim * 6, bias=bias)
        self.project_out = nn.Conv2d(dim * 2, dim, 1, bias=bias)
        self.norm = FFTLayerNorm(dim * 2)
        self.fft_impl: FftImpl = DEFAULT_FFT_IMPL

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.to_hidden_dw(self.to_hidden(x)).chunk(3, dim=1)
        # Q*K without conjugate: a circular convolution inside each patch, as published.
        attn = patch_circular_conv(q, k, self.fft_impl).contiguous(memory_format=memory_format_of(x))
        return self.project_out(v * self.norm(attn))


def _has_hooks(module: nn.Module) -> bool:
    """Whether forward hooks watch `module` (torchinfo, feature extractors): DFFN then runs
    project_in as a module instead of folding it into the patch transform, so they see it."""
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or nn.modules.module._global_forward_hooks
        or nn.modules.module._global_forward_pre_hooks
    )


def set_fft_impl(model: nn.Module, impl: FftImpl) -> nn.Module:
    """Choose how every DFFN/FSAS in `model` computes its patch transforms, in place.

    "matmul" (the default) is exact and several times faster on CPU and exports to ONNX;
    "torch" calls torch.fft as the published code does. Returns `model`."""
    if impl not in FFT_IMPLS:
        raise ValueError(f"unknown fft_impl '{impl}' (use {' or '.join(FFT_IMPLS)})")
    for module in model.modules():
        if isinstance(module, (DFFN, FSAS)):
            module.fft_impl = impl
    return model


# --------------------------------------------------------------------------------------------
# Learnable wavelet unit (§1.4)

_HAAR = 1.0 / math.sqrt(2.0)


class _FilterPair(nn.Module):
    """Parameter-free holder that re-registers two LWN filters (the upstream alias keys)."""

    def __init__(self, first: str, a: nn.Parameter, second: str, b: nn.Parameter) -> None:
        super().__init__()
        self.register_parameter(first, a)
        self.register_parameter(second, b)


def _filter_bank(lo: torch.Tensor, hi: torch.Tensor, c: int, dtype: torch.dtype) -> torch.Tensor:
    """(4c, 1, 2, 2) depthwise weights [LL, LH, HL, HH] per channel, channel-major.

    The first factor runs along rows (height), the second along columns (width)."""
    lo, hi = lo.reshape(2), hi.reshape(2)
    bank = torch.stack(
        [torch.outer(lo, lo), torch.outer(hi, lo), torch.outer(lo, hi), torch.outer(hi, hi)]
    ).to(dtype)
    return bank.unsqueeze(1).repeat(c, 1, 1, 1)


def _swap_channel_blocks(t: torch.Tensor, outer: int, inner: int) -> torch.Tensor:
    """Reorder channels from (outer, inner) to (inner, outer) blocks in one copy that keeps
    t's memory format (a plain reshape would return NCHW and slow channels_last convs)."""
    b, _, h, w = t.shape
    out = torch.empty_like(t)
    out.view(b, inner, outer, h, w).copy_(t.view(b, outer, inner, h, w).transpose(1, 2))
    return out


def _dwt(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """One-level 2-D DWT as a stride-2 2x2 grouped cross-correlation -> [LL, LH, HL, HH]."""
    c = x.shape[1]
    y = F.conv2d(x, _filter_bank(lo, hi, c, x.dtype), stride=2, groups=c)  # c0[LL..HH], c1[..]
    return _swap_channel_blocks(y, c, 4)


def _idwt(z: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Inverse of `_dwt`'s layout: sub-band blocks [LL, LH, HL, HH] -> (b, c, 2h, 2w)."""
    c = z.shape[1] // 4
    grouped = _swap_channel_blocks(z, 4, c)
    return F.conv_transpose2d(grouped, _filter_bank(lo, hi, c, z.dtype), stride=2, groups=c)


def _xcorr_full(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Full cross-correlation c(a, w)[n] = sum_k a[n + k - (L-1)] w[k], n = 0..2L-2."""
    n = a.numel()
    padded = F.pad(a.reshape(1, 1, n), (n - 1, n - 1))
    return F.conv1d(padded, w.reshape(1, 1, n)).reshape(-1)


class LWN(nn.Module):
    """Learnable wavelet unit: DWT, PW, depthwise conv(s), GELU, PW, IDWT (c -> c channels).

    `kernels` is (7,) for MLWNet and (5, 3) for CE-MLWNet.
    """

    def __init__(self, channels: int, kernels: tuple[int, ...]) -> None:
        super().__init__()
        s = _HAAR
        self.dec_lo = nn.Parameter(torch.tensor([[s, s]]))
        self.dec_hi = nn.Parameter(torch.tensor([[s, -s]]))
        self.rec_lo = nn.Parameter(torch.tensor([[s, s]]))
        self.rec_hi = nn.Parameter(torch.tensor([[s, -s]]))
        # Same Parameter objects under a second name: the published checkpoints hold both keys.
        self.wavedec = _FilterPair("dec_lo", self.dec_lo, "dec_hi", self.dec_hi)
        self.waverec = _FilterPair("rec_lo", self.rec_lo, "rec_hi", self.rec_hi)
        hidden = channels * 6
        self.conv1 = nn.Conv2d(channels * 4, hidden, 1)
        self.conv2: nn.Module
        if len(kernels) == 1:
            k = kernels[0]
            self.conv2 = nn.Conv2d(hidden, hidden, k, padding=k // 2, groups=hidden)
        else:
            self.conv2 = nn.Sequential(
                *(nn.Conv2d(hidden, hidden, k, padding=k // 2, groups=hidden) for k in kernels)
            )
        self.conv3 = nn.Conv2d(hidden, channels * 4, 1)

    def dwt(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 2 or x.shape[-1] % 2:
            raise InputSizeError(f"wavelet unit: feature size {tuple(x.shape[-2:])} is odd")
        return _dwt(x, self.dec_lo, self.dec_hi)

    def idwt(self, z: torch.Tensor) -> torch.Tensor:
        return _idwt(z, self.rec_lo, self.rec_hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmt = memory_format_of(x)
        z = self.dwt(x).contiguous(memory_format=fmt)
        z = self.conv3(F.gelu(self.conv2(self.conv1(z))))
        return self.idwt(z).contiguous(memory_format=fmt)

    def wavelet_loss_terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(perfect-reconstruction, alias-cancellation) losses of the filter bank (§1.4)."""
        d_lo, d_hi = self.dec_lo.reshape(-1).flip(0), self.dec_hi.reshape(-1).flip(0)
        r_lo, r_hi = self.rec_lo.reshape(-1).flip(0), self.rec_hi.reshape(-1).flip(0)
        n = d_lo.numel()
        dtype, device = d_lo.dtype, d_lo.device
        sign = torch.tensor([(-1.0) ** (n - 1 - j) for j in range(n)], dtype=dtype, device=device)
        delta = torch.zeros(2 * n - 1, dtype=dtype, device=device)
        delta[n - 1] = 2.0
        pr = _xcorr_full(d_lo, r_lo) + _xcorr_full(d_hi, r_hi)
        ac = _xcorr_full(d_lo * sign, r_lo) + _xcorr_full(d_hi * sign, r_hi)
        return ((pr - delta) ** 2).sum(), (ac**2).sum()

    def wavelet_loss(self) -> torch.Tensor:
        pr, ac = self.wavelet_loss_terms()
        return pr + ac


def total_wavelet_loss(model: nn.Module) -> torch.Tensor:
    """Sum of the wavelet losses of every LWN in `model` (added with weight 1 in training)."""
    losses = [m.wavelet_loss() for m in model.modules() if isinstance(m, LWN)]
    if not losses:
        raise ValueError(f"{type(model).__name__} has no learnable wavelets")
    return torch.stack(losses).sum()


# --------------------------------------------------------------------------------------------
# NAF-style blocks (§1.5). State-dict registration order differs between the upstream block
# classes, so each class registers its children in its own published order.


class NAFBlock(nn.Module):
    """MLWNet encoder block: LN, PW, DW3x3, SG, SCA, PW, residual; LN, PW, SG, PW, residual."""

    def __init__(self, c: int, level: int = 0) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.conv1 = nn.Conv2d(c, 2 * c, 1)
        self.conv2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
        self.conv3 = nn.Conv2d(c, c, 1)
        self.sca = make_sca(c, level)
        self.conv4 = nn.Conv2d(c, 2 * c, 1)
        self.conv5 = nn.Conv2d(c, c, 1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = simple_gate(self.conv2(self.conv1(self.norm1(x))))
        t = self.conv3(t * self.sca(t))
        y = torch.addcmul(x, self.beta, t)  # x + beta * t in one pass
        t = self.conv5(simple_gate(self.conv4(self.norm2(y))))
        return torch.addcmul(y, self.gamma, t)


class DilatedNAFBlock(nn.Module):
    """CE-MLWNet encoder block / HybridNet EncoderBlock: dilations (1, 2) + grouped gate."""

    def __init__(self, c: int, level: int = 0) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.conv1 = nn.Conv2d(c, 2 * c, 1)
        self.conv2 = nn.ModuleList(
            nn.Conv2d(c, c, 3, padding=d, dilation=d, groups=c) for d in (1, 2)
        )
        self.conv3 = nn.Conv2d(c, c, 1)
        self.conv4 = nn.Conv2d(c, 2 * c, 1)
        self.conv5 = nn.Conv2d(c, c, 1)
        self.sca = make_sca(c, level)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        halves = self.conv1(self.norm1(x)).chunk(2, dim=1)
        # Grouped gate over cat[dw1(h1), dw2(h2)] == cat of each half's own simple gate.
        t = torch.cat([simple_gate(conv(h)) for conv, h in zip(self.conv2, halves)], dim=1)
        t = self.conv3(t * self.sca(t))
        y = torch.addcmul(x, self.beta, t)  # x + beta * t in one pass
        t = self.conv5(simple_gate(self.conv4(self.norm2(y))))
        return torch.addcmul(y, self.gamma, t)


class WaveletBlock(nn.Module):
    """MLWNet / CE-MLWNet decoder and fusion block: LWN in place of the PW-DW-SG stage."""

    def __init__(self, c: int, kernels: tuple[int, ...], level: int = 0) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.wavelet_block1 = LWN(c, kernels)
        self.conv3 = nn.Conv2d(c, c, 1)
        self.sca = make_sca(c, level)
        self.conv4 = nn.Conv2d(c, 2 * c, 1)
        self.conv5 = nn.Conv2d(c, c, 1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.wavelet_block1(self.norm1(x))
        t = self.conv3(t * self.sca(t))
        y = torch.addcmul(x, self.beta, t)  # x + beta * t in one pass
        t = self.conv5(simple_gate(self.conv4(self.norm2(y))))
        return torch.addcmul(y, self.gamma, t)


def up_shuffle(c: int, bias: bool) -> nn.Sequential:
    """PW c -> 2c then PixelShuffle(2): c/2 channels at twice the resolution (keys `N.0.*`)."""
    return nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=bias), nn.PixelShuffle(2))


def down_conv(c: int) -> nn.Conv2d:
    """2x2 stride-2 conv c -> 2c (MLWNet family)."""
    return nn.Conv2d(c, 2 * c, 2, stride=2)
