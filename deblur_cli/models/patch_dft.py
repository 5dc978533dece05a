"""The 8x8 patch transforms of FFTformer and HybridNet (spec `architectures.md` §1.3) as exact
real matrix products: DFFN's spectral gain and FSAS's patch product without `torch.fft`.

Why this is exact rather than approximate:

* FSAS computes irfft2(rfft2(q) * rfft2(k)): the product of two real signals' spectra is
  Hermitian, so any exact inverse gives the same circular convolution of q and k per patch.
* DFFN computes irfft2(G * rfft2(x)) with a real gain G that is not Hermitian along the first
  frequency axis u. `irfft2` runs a complex inverse along u, then a complex-to-real inverse
  along the half-spectrum axis v that keeps only the real part of the v = 0 and v = 4 columns
  (their sines vanish). There the spectrum of a real x is Hermitian in u, so keeping the real
  part is the same as applying the symmetrised gain (G[u, v] + G[-u, v]) / 2. The published op
  is thus a Hermitian-consistent real gain: diagonal in the real coordinates below. Tests
  compare both paths with `torch.fft` on random, non-Hermitian gains.

Real coordinates of an 8x8 spectrum (64 numbers for 64 pixels): (real, imaginary) pairs of the
30 half-spectrum bins that have no conjugate partner inside the half spectrum, then the real
parts of the 4 always-real bins (u, v in {0, 4}). Each transform is one 64x64 matrix applied to
all patches of all channels in a single matrix product.
"""

from __future__ import annotations

import contextlib
import math
from typing import Literal

import torch

PATCH = 8  # side of the FFT patches in DFFN / FSAS (architectures §1.3)
FftImpl = Literal["matmul", "torch"]
FFT_IMPLS: tuple[FftImpl, ...] = ("matmul", "torch")
DEFAULT_FFT_IMPL: FftImpl = "matmul"

_AREA = PATCH * PATCH
_HALF = PATCH // 2 + 1  # columns of the half spectrum rfft2 returns
_REAL_BINS = ((0, 0), (4, 0), (0, 4), (4, 4))
# Bins with an imaginary part and no conjugate partner in the half spectrum: every row of the
# interior columns, and rows 1-3 of the DC/Nyquist columns (rows 5-7 there are their conjugates).
_COMPLEX_BINS = tuple(
    (u, v) for v in range(_HALF) for u in range(PATCH) if 0 < v < 4 or 0 < u < 4
)
_PAIRS = 2 * len(_COMPLEX_BINS)  # 60 interleaved (re, im) coordinates, then 4 real ones
_DC = _PAIRS  # coordinate of bin (0, 0)


def _phase(u: int, v: int) -> torch.Tensor:
    """2*pi*(u*i + v*j)/8 over the patch pixels (i, j), flattened row-major, float64."""
    i = torch.arange(PATCH, dtype=torch.float64)
    return (2 * math.pi / PATCH) * (u * i[:, None] + v * i[None, :]).reshape(-1)


def _coordinate_bins() -> list[tuple[int, int, str]]:
    """(u, v, part) of every real coordinate, in order."""
    pairs = [(u, v, part) for u, v in _COMPLEX_BINS for part in ("re", "im")]
    return pairs + [(u, v, "re") for u, v in _REAL_BINS]


def transform_matrices_f64() -> tuple[torch.Tensor, torch.Tensor]:
    """(forward, inverse) 64x64 real DFT matrices in float64, built from the definitions.

    forward @ patch = real coordinates (rfft2: no scaling, e^{-i phase});
    inverse @ coordinates = patch (irfft2: 1/64, every bin with a conjugate partner twice)."""
    fwd, inv = [], []
    for u, v, part in _coordinate_bins():
        phase = _phase(u, v)
        weight = (1.0 if (u, v) in _REAL_BINS else 2.0) / _AREA
        if part == "re":
            fwd.append(torch.cos(phase))
            inv.append(weight * torch.cos(phase))
        else:
            fwd.append(-torch.sin(phase))
            inv.append(-weight * torch.sin(phase))
    return torch.stack(fwd), torch.stack(inv).T


def _gain_index() -> tuple[torch.Tensor, torch.Tensor]:
    """Flat half-spectrum bin of each real coordinate, and of its mirror (-u mod 8) in the
    DC/Nyquist columns (the bin itself elsewhere): the two halves of the symmetrised gain."""
    bins = _coordinate_bins()
    own = [u * _HALF + v for u, v, _ in bins]
    mirror = [((-u % PATCH) if v in (0, 4) else u) * _HALF + v for u, v, _ in bins]
    return torch.tensor(own), torch.tensor(mirror)


def _float32_set(fwd: torch.Tensor, inv: torch.Tensor) -> tuple[torch.Tensor, ...]:
    fwd, inv = fwd.float(), inv.float()
    return fwd, inv, fwd.T.contiguous(), inv.T.contiguous()


# Built once at import, outside any tracing: a cache first filled under torch.export or
# torch.compile would hold fake tensors and hand them to later eager calls.
_CPU_MATRICES = _float32_set(*transform_matrices_f64())
_GAIN_INDEX = _gain_index()
_DEVICE_MATRICES: dict[torch.device, tuple[torch.Tensor, ...]] = {}


def _matrices(device: torch.device) -> tuple[torch.Tensor, ...]:
    """float32 (forward, inverse, forward.T, inverse.T) on `device`, each contiguous."""
    if device.type == "cpu":
        return _CPU_MATRICES
    if device in _DEVICE_MATRICES:
        return _DEVICE_MATRICES[device]
    moved = tuple(m.to(device) for m in _CPU_MATRICES)
    if not _graph_capture():
        _DEVICE_MATRICES[device] = moved
    return moved


def effective_gain(gain: torch.Tensor) -> torch.Tensor:
    """The DFFN gain (C, 1, 1, 8, 5) as the (64, C) diagonal it applies to the real coordinates.

    Unmirrored bins average a value with itself, which is exact in floating point."""
    # Bins as rows of a contiguous (40, C) copy: row gathers are the fast kind.
    g = gain.reshape(gain.shape[0], PATCH * _HALF).float().T.contiguous()
    own, mirror = (i.to(g.device) for i in _GAIN_INDEX)
    return (g.index_select(0, own) + g.index_select(0, mirror)) * 0.5


# --------------------------------------------------------------------------------------------
# Layouts. "Pixel rows" (M, 64): one patch of one channel per row, the form in which the
# matrix product runs fastest on CPU BLAS (the long axis outermost). "Coefficient-major"
# (64, patches, C): what a 1x1 conv between the transforms needs (see pointwise_patch_filter).


def _channels_inner(x: torch.Tensor) -> bool:
    """Whether the channel axis is innermost in memory (channels_last, or a channel slice of it)."""
    return x.stride(1) == 1 and x.shape[1] > 1


def _float32_dense(t: torch.Tensor) -> torch.Tensor:
    """One copy into row-major float32. The cast is part of the published networks: the patch
    transforms run in float32 whatever the input dtype (architectures §1.3)."""
    return t.float().contiguous()


def _pixel_rows(x: torch.Tensor, channels_inner: bool) -> torch.Tensor:
    """(B, C, H, W) -> (M, 64) float32 in one copy; rows ordered (B, H/8, W/8, C) when
    `channels_inner`, else (B, C, H/8, W/8), so the gather reads memory mostly in order."""
    b, c, h, w = x.shape
    if channels_inner:
        t = x.permute(0, 2, 3, 1).reshape(b, h // PATCH, PATCH, w // PATCH, PATCH, c)
        t = t.permute(0, 1, 3, 5, 2, 4)
    else:
        t = x.reshape(b, c, h // PATCH, PATCH, w // PATCH, PATCH).permute(0, 1, 2, 4, 3, 5)
    return _float32_dense(t).view(-1, _AREA)


def _from_pixel_rows(y: torch.Tensor, shape: torch.Size, channels_inner: bool) -> torch.Tensor:
    """Inverse of `_pixel_rows`: channels_last strides when the channels were inner."""
    b, c, h, w = shape
    ph, pw = h // PATCH, w // PATCH
    if channels_inner:
        t = y.view(b, ph, pw, c, PATCH, PATCH).permute(0, 1, 4, 2, 5, 3)
        return t.reshape(b, h, w, c).permute(0, 3, 1, 2)
    t = y.view(b, c, ph, pw, PATCH, PATCH).permute(0, 1, 2, 4, 3, 5)
    return t.reshape(b, c, h, w)


def _coefficient_major(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (64, B*H/8*W/8, C) float32; moves runs of C values when channels_last."""
    b, c, h, w = x.shape
    t = x.permute(0, 2, 3, 1).reshape(b, h // PATCH, PATCH, w // PATCH, PATCH, c)
    return _float32_dense(t.permute(2, 4, 0, 1, 3, 5)).view(_AREA, -1, c)


def _scale_channels(
    rows: torch.Tensor, factor: torch.Tensor, shape: torch.Size, channels_inner: bool
) -> torch.Tensor:
    """Pixel rows times a per-channel (C, 64) factor, as (M, 64)."""
    b, c = shape[0], shape[1]
    if channels_inner:
        return (rows.view(-1, c, _AREA) * factor).view(-1, _AREA)
    return (rows.view(b, c, -1, _AREA) * factor.unsqueeze(1)).view(-1, _AREA)


# --------------------------------------------------------------------------------------------
# When the matrix form runs and how


def _fp32_region(x: torch.Tensor) -> contextlib.AbstractContextManager[object]:
    """Autocast would run the matrix products in bf16/fp16; the published FFTs are fp32."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.autocast(x.device.type, enabled=False)
    return contextlib.nullcontext()


def _use_matmul(impl: FftImpl, x: torch.Tensor) -> bool:
    # A meta tensor has no values: shape and cost analysis (`deblur profile`) keeps seeing the
    # published FFT ops, which is what its FFT MAC counts describe.
    return impl == "matmul" and x.device.type != "meta"


def fp32_matmul_ok(x: torch.Tensor) -> bool:
    """Whether a layer may fold its float32 1x1 conv into the transforms (`pointwise_patch_filter`):
    real float32 values and autocast off (under autocast the conv keeps its autocast dtype)."""
    return (
        x.dtype == torch.float32
        and x.device.type != "meta"
        and not torch.is_autocast_enabled(x.device.type)
    )


def _graph_capture() -> bool:
    """ONNX export, tracing and torch.compile lack complex tensors (multiply in real form), and
    must not fill caches with their fake tensors."""
    return bool(
        torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling()
    )


# --------------------------------------------------------------------------------------------
# The published ops (torch.fft)


def _fft_patches(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    p = x.reshape(b, c, h // PATCH, PATCH, w // PATCH, PATCH).permute(0, 1, 2, 4, 3, 5)
    return torch.fft.rfft2(p.float())


def _fft_unpatch(spectrum: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    y = torch.fft.irfft2(spectrum, s=(PATCH, PATCH))
    return y.permute(0, 1, 2, 4, 3, 5).reshape(shape)


# --------------------------------------------------------------------------------------------
# The operations


def patch_filter(x: torch.Tensor, gain: torch.Tensor, impl: FftImpl = DEFAULT_FFT_IMPL) -> torch.Tensor:
    """irfft2(gain * rfft2(patch), s=(8, 8)) on every 8x8 patch of x (B, C, H, W); float32.

    `gain` is DFFN's real (C, 1, 1, 8, 5) parameter."""
    if not _use_matmul(impl, x):
        return _fft_unpatch(_fft_patches(x) * gain, x.shape)
    with _fp32_region(x):
        _, _, fwd_t, inv_t = _matrices(x.device)
        inner = _channels_inner(x)
        coords = _pixel_rows(x, inner) @ fwd_t
        scaled = _scale_channels(coords, effective_gain(gain).T, x.shape, inner)
        return _from_pixel_rows(scaled @ inv_t, x.shape, inner)


def pointwise_patch_filter(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, gain: torch.Tensor
) -> torch.Tensor:
    """patch_filter(conv1x1(x, weight, bias), gain), with the 1x1 conv done between transforms.

    A 1x1 conv mixes the channels of each pixel and the patch transform mixes the pixels of each
    channel, so the two commute: transforming the conv's input (DFFN: dim channels) instead of
    its output (2 * hidden, up to 6x as many) saves most of the forward transform, and the gain
    folds into the conv weights (one matrix per real coordinate). A constant bias b reaches only
    the DC coordinate, as 64 * b. float32 only: see `fp32_matmul_ok`. Returns channels_last.
    """
    b, _, h, w = x.shape
    c_out = weight.shape[0]
    fwd, _, _, inv_t = _matrices(x.device)
    coeffs = (fwd @ _coefficient_major(x).view(_AREA, -1)).view(_AREA, -1, x.shape[1])
    g = effective_gain(gain).unsqueeze(1)  # (64, 1, c_out)
    w_t = weight.reshape(c_out, -1).T.float()  # (c_in, c_out)
    offset = None
    if bias is not None:
        dc = torch.zeros(_AREA, 1, 1, dtype=g.dtype, device=g.device)
        dc[_DC] = _AREA
        offset = dc * bias.float() * g
    n_patches, c_in = coeffs.shape[1], coeffs.shape[2]
    if c_in <= 2 * n_patches:
        # 64 weight matrices (64 * c_in * c_out values) cost less than the extra pass over
        # the (64, patches, c_out) output that a separate gain product would take.
        weights = w_t * g
        z = torch.bmm(coeffs, weights) if offset is None else torch.baddbmm(offset, coeffs, weights)
    else:
        mixed = coeffs @ w_t
        z = mixed * g if offset is None else torch.addcmul(offset, mixed, g)
    # Transposed operand: the product then comes out as pixel rows, the faster BLAS shape.
    rows = z.view(_AREA, -1).T @ inv_t
    return _from_pixel_rows(rows, torch.Size((b, c_out, h, w)), channels_inner=True)


def patch_circular_conv(q: torch.Tensor, k: torch.Tensor, impl: FftImpl = DEFAULT_FFT_IMPL) -> torch.Tensor:
    """irfft2(rfft2(q) * rfft2(k), s=(8, 8)) per 8x8 patch: FSAS's circular convolution; float32."""
    if not _use_matmul(impl, q):
        return _fft_unpatch(_fft_patches(q) * _fft_patches(k), q.shape)
    with _fp32_region(q):
        _, _, fwd_t, inv_t = _matrices(q.device)
        inner = _channels_inner(q)  # k is gathered in q's order, whatever its own strides
        qc, kc = _pixel_rows(q, inner) @ fwd_t, _pixel_rows(k, inner) @ fwd_t
        pairs = _complex_product(qc[:, :_PAIRS], kc[:, :_PAIRS])
        real = qc[:, _PAIRS:] * kc[:, _PAIRS:]
        out = torch.addmm(real @ inv_t[_PAIRS:], pairs, inv_t[:_PAIRS])
        return _from_pixel_rows(out, q.shape, inner)


def _complex_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Elementwise complex product of (M, 2n) interleaved (re, im) rows: one complex multiply
    where complex tensors are well supported (CPU, CUDA), else four real products."""
    if a.device.type in ("cpu", "cuda") and not _graph_capture():
        prod = torch.view_as_complex(a.reshape(-1, _PAIRS // 2, 2)) * torch.view_as_complex(
            b.reshape(-1, _PAIRS // 2, 2)
        )
        return torch.view_as_real(prod).reshape(-1, _PAIRS)
    ar, ai, br, bi = a[:, 0::2], a[:, 1::2], b[:, 0::2], b[:, 1::2]
    re = torch.addcmul(ar * br, ai, bi, value=-1.0)
    im = torch.addcmul(ar * bi, ai, br)
    return torch.stack((re, im), dim=-1).reshape(-1, _PAIRS)
