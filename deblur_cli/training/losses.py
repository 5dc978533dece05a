"""Training losses of protocols §3.2, composable by name with weights (`[loss]` of a recipe).

Each term is a plain function of float32 tensors; `Criterion` adds the weighted terms and keeps
the unweighted values for the logs. Terms take the model outputs as a tuple
`(ŷ0, ŷ1, ŷ2, ŷ3)` (auxiliary entries may be None) so SIMO and single-output terms share one call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TrainingError
from .config import LOSS_TERMS, LossSection

_TEN_OVER_LN10 = 10.0 / math.log(10.0)
_SIMO_EPS = 1e-8  # inside the log of each image's MSE (§3.2)
_EDGE_TAPS = (0.05, 0.25, 0.4, 0.25, 0.05)  # MPRNet's Gaussian-like 5-tap filter (§3.2)
_EDGE_EPS = 1e-3  # Charbonnier ε of the edge loss: sqrt(d² + 1e-6)

Outputs = Sequence[torch.Tensor | None]


def _log_mse_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(10 / ln 10) · mean_b ln(MSE_b + 1e-8): minus the mean PSNR (peak 1) of the batch."""
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(dim=1)
    return _TEN_OVER_LN10 * torch.log(mse + _SIMO_EPS).mean()


def psnr_loss(outputs: Outputs, target: torch.Tensor) -> torch.Tensor:
    """Single-scale PSNR loss: the k = 0 term of SIMO."""
    return _log_mse_per_image(_first(outputs), target)


def simo_loss(
    outputs: Outputs, target: torch.Tensor, scales: Sequence[float] = (1.0, 0.5, 0.25, 0.125)
) -> torch.Tensor:
    """MLWNet's multi-scale loss: Σ_k w_k · (10/ln 10) · mean_b ln(MSE_b(ŷ_k, ↓k y) + 1e-8),
    ↓k = box (area) downsampling by 2^k; ŷ1..ŷ3 are the auxiliary heads."""
    if len(outputs) < len(scales) or any(o is None for o in outputs[: len(scales)]):
        raise TrainingError("loss.simo needs the model's auxiliary outputs (aux_heads = true)")
    total = torch.zeros((), device=target.device)
    for k, (out, w) in enumerate(zip(outputs, scales)):
        assert out is not None
        ref = F.avg_pool2d(target, 2**k) if k else target
        total = total + w * _log_mse_per_image(out, ref)
    return total


def l1_loss(outputs: Outputs, target: torch.Tensor) -> torch.Tensor:
    return (_first(outputs).float() - target.float()).abs().mean()


def charbonnier_loss(outputs: Outputs, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """mean sqrt((ŷ0 − y)² + ε²)."""
    diff = _first(outputs).float() - target.float()
    return torch.sqrt(diff * diff + eps * eps).mean()


def fft_loss(outputs: Outputs, target: torch.Tensor) -> torch.Tensor:
    """FFTformer's frequency loss without its 0.1: mean over every real and imaginary entry of
    |F(ŷ0) − F(y)|, F the unnormalised 2-D FFT over H, W. Always float32, even under autocast
    (half-precision FFTs lose the high frequencies this term is about)."""
    with torch.autocast(target.device.type, enabled=False):
        diff = torch.fft.fft2(_first(outputs).float() - target.float(), dim=(-2, -1))
        return torch.view_as_real(diff).abs().mean()


def _edge_kernel(channels: int, like: torch.Tensor) -> torch.Tensor:
    # Built on the input's device and dtype at each call (§3.6 bug 8: the seed pinned it to CUDA).
    v = torch.tensor(_EDGE_TAPS, device=like.device, dtype=like.dtype)
    return torch.outer(v, v).expand(channels, 1, 5, 5)


def _gauss(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), kernel, groups=x.shape[1])


def laplacian(x: torch.Tensor) -> torch.Tensor:
    """MPRNet's Laplacian-pyramid level: x − G(U(D(G(x)))), D keeping every second pixel and U
    putting the samples back at even positions ×4, zeros elsewhere."""
    kernel = _edge_kernel(x.shape[1], x)
    filtered = _gauss(x, kernel)
    up = torch.zeros_like(filtered)
    up[:, :, ::2, ::2] = filtered[:, :, ::2, ::2] * 4
    return x - _gauss(up, kernel)


def edge_loss(outputs: Outputs, target: torch.Tensor) -> torch.Tensor:
    """MPRNet's edge loss without its 0.05: mean sqrt((lap(ŷ0) − lap(y))² + 1e-6)."""
    diff = laplacian(_first(outputs).float()) - laplacian(target.float())
    return torch.sqrt(diff * diff + _EDGE_EPS * _EDGE_EPS).mean()


def wavelet_term(model: nn.Module) -> torch.Tensor:
    """MLWNet's filter-bank loss of every learnable wavelet (§3.2), from the model itself."""
    from ..models import wavelet_loss

    return wavelet_loss(model)


def _first(outputs: Outputs) -> torch.Tensor:
    out = outputs[0]
    assert out is not None
    return out


@dataclass(frozen=True)
class LossValues:
    """`total` (weighted sum, with gradient) and each term's unweighted value (detached)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]


class Criterion:
    """The weighted sum of the recipe's loss terms.

    `criterion(outputs, target, model)`: `outputs` a tuple as the model returns in training
    (a bare tensor is accepted), `model` the unwrapped network (for the wavelet term).
    """

    def __init__(self, section: LossSection) -> None:
        self.weights = section.weights()
        self.scales = tuple(section.simo_scales)
        self.eps = section.charbonnier_eps

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.weights)

    @property
    def needs_aux(self) -> bool:
        return "simo" in self.weights

    def term(
        self, name: str, outputs: Outputs, target: torch.Tensor, model: nn.Module
    ) -> torch.Tensor:
        if name == "simo":
            return simo_loss(outputs, target, self.scales)
        if name == "psnr":
            return psnr_loss(outputs, target)
        if name == "l1":
            return l1_loss(outputs, target)
        if name == "charbonnier":
            return charbonnier_loss(outputs, target, self.eps)
        if name == "fft":
            return fft_loss(outputs, target)
        if name == "edge":
            return edge_loss(outputs, target)
        if name == "wavelet":
            return wavelet_term(model)
        raise TrainingError(f"unknown loss term '{name}' (known: {', '.join(LOSS_TERMS)})")

    def __call__(
        self, outputs: Outputs | torch.Tensor, target: torch.Tensor, model: nn.Module
    ) -> LossValues:
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        terms = {n: self.term(n, outputs, target, model) for n in self.weights}
        total = sum(
            (self.weights[n] * v for n, v in terms.items()), torch.zeros((), device=target.device)
        )
        return LossValues(total, {n: v.detach() for n, v in terms.items()})
