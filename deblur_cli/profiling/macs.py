"""Multiply-accumulate counts of one forward pass: torchinfo's (module convolutions, as the
papers report) and the complete aten-level count (protocols §5.2, architectures §7)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode


@dataclass(frozen=True)
class MacCounts:
    """Multiply-accumulate counts of one forward pass.

    torchinfo: torchinfo's `total_mult_adds` (module convolutions, plus norm affine terms);
        what the papers and the seed's slides report.
    full: torchinfo plus what it does not see: convolutions called functionally (the wavelet
        DWT/IDWT), FFTs (5·N·log2 N real flops per length-N transform, counted as flops/2),
        elementwise products (gates, channel attention, residual scales, spectral gains and
        the frequency-domain attention product; complex products count 4) and matrix products.
    """

    torchinfo: int
    functional_convs: int
    fft: int
    elementwise: int
    matmul: int

    @property
    def full(self) -> int:
        return self.torchinfo + self.functional_convs + self.fft + self.elementwise + self.matmul

    def breakdown(self) -> dict[str, int]:
        return {
            "torchinfo": self.torchinfo,
            "functional_convs": self.functional_convs,
            "fft": self.fft,
            "elementwise": self.elementwise,
            "matmul": self.matmul,
        }


def torchinfo_macs(model: nn.Module, x: torch.Tensor) -> int:
    import torchinfo  # only profiling needs it; keeps `import deblur_cli.profiling` light

    summary = torchinfo.summary(model, input_data=x, verbose=0, device=x.device)
    return int(summary.total_mult_adds)


def _conv_macs(
    weight_shape: Sequence[int],
    out_shape: Sequence[int],
    has_bias: bool,
    transposed: bool,
    in_shape: Sequence[int],
) -> int:
    # torchinfo's convention: one MAC per weight per output position (+1 per output for bias).
    # A transposed conv does one MAC per weight per *input* position.
    positions = math.prod(in_shape[2:]) if transposed else math.prod(out_shape[2:])
    macs = math.prod(weight_shape) * positions * out_shape[0]
    return macs + (math.prod(out_shape) if has_bias else 0)


def _fft_macs(signal_numel: int, n: int) -> int:
    if n <= 1:
        return 0
    transforms = signal_numel // n
    return int(transforms * 5 * n * math.log2(n) / 2)


class _OpCounter(TorchDispatchMode):
    """Counts convolutions, FFTs, elementwise and matrix products at the aten level."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = 0
        self.fft = 0
        self.elementwise = 0
        self.matmul = 0

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        self._count(func.overloadpacket, args, out)
        return out

    def _count(self, packet: Any, args: tuple[Any, ...], out: Any) -> None:
        aten = torch.ops.aten
        if packet is aten.convolution:
            x, w, b = args[0], args[1], args[2]
            transposed = bool(args[6])
            self.convs += _conv_macs(w.shape, out.shape, b is not None, transposed, x.shape)
        elif packet in (aten._fft_r2c, aten._fft_c2c):
            x, dims = args[0], args[1]
            self.fft += _fft_macs(x.numel(), math.prod(x.shape[d] for d in dims))
        elif packet is aten._fft_c2r:  # the real output has the full signal length
            dims = args[1]
            self.fft += _fft_macs(out.numel(), math.prod(out.shape[d] for d in dims))
        elif packet is aten.mul and isinstance(args[1], torch.Tensor) and args[1].dim() > 0:
            self.elementwise += out.numel() * (4 if out.is_complex() else 1)
        elif packet is aten.addcmul:  # fused residual update x + s * t: one product each
            self.elementwise += out.numel()
        elif packet in (aten.mm, aten.bmm, aten.addmm, aten.baddbmm):
            a, b = (args[1], args[2]) if packet in (aten.addmm, aten.baddbmm) else args[:2]
            self.matmul += math.prod(a.shape) * b.shape[-1]


def _module_conv_macs(model: nn.Module, x: torch.Tensor) -> int:
    """MACs of the convolutions that run as modules (those torchinfo already counts)."""
    total = 0

    def on_conv(mod: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(mod, nn.modules.conv._ConvNd)
        transposed = isinstance(mod, nn.ConvTranspose2d)
        bias = mod.bias is not None
        total += _conv_macs(mod.weight.shape, out.shape, bias, transposed, args[0].shape)

    hooks = [
        mod.register_forward_hook(on_conv)
        for mod in model.modules()
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d))
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return total


def count_macs(model: nn.Module, x: torch.Tensor) -> MacCounts:
    """Both MAC counts for one forward of `model` on `x` (use meta tensors for speed)."""
    counter = _OpCounter()
    with torch.no_grad(), counter:
        module_convs = _module_conv_macs(model, x)
    return MacCounts(
        torchinfo=torchinfo_macs(model, x),
        functional_convs=counter.convs - module_convs,
        fft=counter.fft,
        elementwise=counter.elementwise,
        matmul=counter.matmul,
    )
