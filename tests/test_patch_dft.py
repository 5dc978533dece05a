"""The matrix-product patch transforms (models/patch_dft.py) equal the published torch.fft ops:
random inputs and non-Hermitian gains, both memory layouts, autocast, gradients, goldens."""

from __future__ import annotations

import pytest
import torch
from helpers.models import (
    block_golden_diff,
    load_golden,
    max_abs_diff,
    our_config,
    registry_name,
    state_dict_of,
)

from deblur_cli.models import create
from deblur_cli.models.blocks import DFFN, FSAS, set_fft_impl
from deblur_cli.models.fftformer import Fuse, TransformerBlock
from deblur_cli.models.hybridnet import DecoderBlock
from deblur_cli.models.patch_dft import (
    patch_circular_conv,
    patch_filter,
    pointwise_patch_filter,
    transform_matrices_f64,
)

ATOL = 1e-5
LAYOUTS = ["nchw", "channels_last"]


def _layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else x


def _fft_filter_f64(x: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """The published DFFN transform in float64: the reference both float32 paths approximate."""
    b, c, h, w = x.shape
    p = x.double().reshape(b, c, h // 8, 8, w // 8, 8).permute(0, 1, 2, 4, 3, 5)
    y = torch.fft.irfft2(torch.fft.rfft2(p) * gain.double(), s=(8, 8))
    return y.permute(0, 1, 2, 4, 3, 5).reshape(b, c, h, w)


def test_transform_matrices_are_inverse() -> None:
    fwd, inv = transform_matrices_f64()
    assert float((inv @ fwd - torch.eye(64, dtype=torch.float64)).abs().max()) < 1e-12


@pytest.mark.parametrize("layout", LAYOUTS)
def test_patch_filter_equals_torch_fft_with_non_hermitian_gains(layout: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x = _layout(torch.randn(2, 6, 16, 24, generator=gen), layout)
    gain = torch.randn(6, 1, 1, 8, 5, generator=gen)  # no symmetry: the irfft2 convention matters
    fast, published = patch_filter(x, gain, "matmul"), patch_filter(x, gain, "torch")
    assert fast.dtype == torch.float32 and fast.shape == x.shape
    assert float((fast - published).abs().max()) <= ATOL
    # Both are float32 roundings of the same float64 result, equally close to it.
    exact = _fft_filter_f64(x, gain)
    assert float((fast - exact).abs().max()) <= 2e-6
    assert float((published - exact).abs().max()) <= 2e-6


def test_patch_filter_depends_on_the_irfft2_convention() -> None:
    # Symmetrising the DC/Nyquist columns of the gain leaves the result unchanged: exactly the
    # freedom irfft2 has there; any other change of those columns changes it.
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, 8, 8, generator=gen)
    gain = torch.randn(3, 1, 1, 8, 5, generator=gen)
    mirrored = gain.clone()
    mirrored[..., 0] = gain[..., [0, 7, 6, 5, 4, 3, 2, 1], 0]
    mirrored[..., 4] = gain[..., [0, 7, 6, 5, 4, 3, 2, 1], 4]
    same = patch_filter(x, mirrored, "matmul")
    assert float((same - patch_filter(x, gain, "torch")).abs().max()) <= ATOL
    changed = gain.clone()
    changed[..., 1, 0] += 1.0
    assert float((patch_filter(x, changed, "matmul") - same).abs().max()) > 1e-2


@pytest.mark.parametrize("layout", LAYOUTS)
def test_patch_circular_conv_equals_torch_fft(layout: str) -> None:
    gen = torch.Generator().manual_seed(2)
    hidden = _layout(torch.randn(2, 18, 16, 24, generator=gen) * 0.3, layout)
    q, k, _ = hidden.chunk(3, dim=1)  # channel slices, as FSAS passes them
    fast, published = patch_circular_conv(q, k, "matmul"), patch_circular_conv(q, k, "torch")
    assert fast.dtype == torch.float32 and fast.shape == q.shape
    assert float((fast - published).abs().max()) <= ATOL


def test_real_form_product_for_export_equals_the_complex_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # ONNX export and torch.compile take the real-arithmetic branch of the spectral product.
    from deblur_cli.models import patch_dft

    gen = torch.Generator().manual_seed(8)
    q, k = torch.randn(2, 1, 3, 16, 16, generator=gen) * 0.3
    eager = patch_circular_conv(q, k, "matmul")
    monkeypatch.setattr(patch_dft, "_graph_capture", lambda: True)
    assert float((patch_circular_conv(q, k, "matmul") - eager).abs().max()) <= 1e-6


def test_patch_circular_conv_is_a_circular_convolution_per_patch() -> None:
    q = torch.zeros(1, 1, 8, 16)
    k = torch.rand(1, 1, 8, 16)
    q[0, 0, 1, 2] = 1.0  # unit impulse at (1, 2) in the first patch only
    out = patch_circular_conv(q, k, "matmul")
    shifted = torch.roll(k[0, 0, :, :8], shifts=(1, 2), dims=(0, 1))
    assert float((out[0, 0, :, :8] - shifted).abs().max()) <= 1e-6
    assert float(out[0, 0, :, 8:].abs().max()) <= 1e-6


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("size", [16, 8])  # 8: more input channels than patches (other branch)
def test_pointwise_fold_equals_conv_then_fft(bias: bool, size: int) -> None:
    gen = torch.Generator().manual_seed(3)
    dffn = DFFN(8, 3, bias)
    with torch.no_grad():
        dffn.fft.copy_(torch.randn(dffn.fft.shape, generator=gen))
        if bias:
            dffn.project_in.bias.copy_(torch.randn(dffn.project_in.bias.shape, generator=gen))
    x = torch.randn(2, 8, size, size, generator=gen).contiguous(memory_format=torch.channels_last)
    pw = dffn.project_in
    with torch.no_grad():
        fast = pointwise_patch_filter(x, pw.weight, pw.bias, dffn.fft)
        published = patch_filter(pw(x), dffn.fft, "torch")
    assert float((fast - published).abs().max()) <= ATOL


def test_gradients_match_torch_fft() -> None:
    gen = torch.Generator().manual_seed(4)
    grads = {}
    for impl in ("torch", "matmul"):
        torch.manual_seed(0)
        dffn, fsas = set_fft_impl(DFFN(4, 2, True), impl), set_fft_impl(FSAS(4, False), impl)
        with torch.no_grad():
            dffn.fft.add_(0.3 * torch.randn(dffn.fft.shape, generator=gen.manual_seed(5)))
        x = torch.randn(2, 4, 16, 16, generator=gen.manual_seed(6)).requires_grad_(True)
        (dffn(x).square().sum() + fsas(x).square().sum()).backward()
        grads[impl] = [x.grad, dffn.fft.grad, dffn.project_in.weight.grad, fsas.to_hidden.weight.grad]
    for fast, published in zip(grads["matmul"], grads["torch"]):
        scale = float(published.abs().max())
        assert float((fast - published).abs().max()) <= ATOL * max(1.0, scale)


@pytest.mark.parametrize("impl", ["matmul", "torch"])
def test_transforms_stay_float32_under_bf16_autocast(impl: str) -> None:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(1, 4, 16, 16, generator=gen)
    gain = torch.randn(4, 1, 1, 8, 5, generator=gen)
    fp32 = patch_filter(x, gain, impl)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = patch_filter(x, gain, impl)
        conv = patch_circular_conv(x, x, impl)
    assert under.dtype == torch.float32 and conv.dtype == torch.float32
    assert float((under - fp32).abs().max()) == 0.0  # no bf16 rounding inside the transform
    dffn = set_fft_impl(DFFN(4, 2, False), impl)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert dffn(x).dtype == torch.bfloat16  # project_out runs in bf16, as published


def test_a_hooked_project_in_still_runs_as_a_module() -> None:
    # torchinfo and feature extractors hook the conv; the fold must not hide it from them.
    dffn = DFFN(4, 2, False).eval()
    calls: list[tuple[int, ...]] = []
    dffn.project_in.register_forward_hook(lambda mod, args, out: calls.append(tuple(out.shape)))
    x = torch.rand(1, 4, 16, 16)
    with torch.no_grad():
        hooked = dffn(x)
    assert calls == [(1, 16, 16, 16)]  # 2 * hidden channels
    with torch.no_grad():
        published = set_fft_impl(dffn, "torch")(x)
    assert float((hooked - published).abs().max()) <= ATOL


def test_set_fft_impl_rejects_unknown_names_and_defaults_to_matmul() -> None:
    model = create("fftformer", dim=8, num_blocks=(1, 1, 1), num_refinement_blocks=1)
    impls = {m.fft_impl for m in model.modules() if isinstance(m, (DFFN, FSAS))}
    assert impls == {"matmul"}
    with pytest.raises(ValueError, match="unknown fft_impl"):
        set_fft_impl(model, "fast")  # type: ignore[arg-type]


def test_meta_tensors_keep_the_published_fft_ops() -> None:
    # Cost analysis (deblur profile) runs on meta tensors and counts the published FFTs.
    seen: list[str] = []

    class Spy(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            seen.append(getattr(func, "__name__", ""))
            return func(*args, **(kwargs or {}))

    with torch.device("meta"), Spy():
        DFFN(4, 2, False)(torch.empty(1, 4, 16, 16))
    assert "fft_rfft2" in seen and "fft_irfft2" in seen


# ------------------------------------------------------------------------------------------
# The published goldens through both paths (test_goldens.py runs the default path).

FFT_BLOCKS = {
    "fft_dffn": lambda: DFFN(8, 3, bias=False),
    "fft_fsas": lambda: FSAS(8, bias=False),
    "fft_block_att": lambda: TransformerBlock(8, 3, bias=False, attention=True),
    "fft_block_noatt": lambda: TransformerBlock(8, 3, bias=False, attention=False),
    "fft_fuse": lambda: Fuse(8),
    "hyb_dffn": lambda: DFFN(8, 2, bias=True),
    "hyb_decoderblock": lambda: DecoderBlock(8),
}


@pytest.mark.parametrize("impl", ["matmul", "torch"])
@pytest.mark.parametrize("case", sorted(FFT_BLOCKS))
def test_fft_block_goldens_with_both_paths(case: str, impl: str) -> None:
    module = set_fft_impl(FFT_BLOCKS[case]().eval(), impl)
    assert block_golden_diff(module, case) <= ATOL


@pytest.mark.parametrize("impl", ["matmul", "torch"])
@pytest.mark.parametrize("golden", ["fftformer_small", "official_fftformer_small", "hybridnet_small"])
def test_fft_model_goldens_with_both_paths(golden: str, impl: str) -> None:
    sidecar, arrays = load_golden(golden)
    model = create(registry_name(sidecar["model"]), **our_config(sidecar["config"]))
    set_fft_impl(model, impl).load_state_dict(state_dict_of(arrays), strict=True)
    with torch.no_grad():
        out = model(torch.from_numpy(arrays["@input"]))
    assert max_abs_diff(out, arrays["@output_0"]) <= ATOL
