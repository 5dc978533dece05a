"""Training losses against the formulas of protocols §3.2: hand-computed small examples,
an independent NumPy edge loss, the wavelet golden, float32 FFTs under autocast."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers.models import load_golden, our_config, registry_name, state_dict_of

from deblur_cli.errors import TrainingError
from deblur_cli.models import create
from deblur_cli.training.config import LossSection
from deblur_cli.training.losses import (
    Criterion,
    charbonnier_loss,
    edge_loss,
    fft_loss,
    l1_loss,
    psnr_loss,
    simo_loss,
)

K = 10.0 / math.log(10.0)
EPS = 1e-8


def _checkerboard(n: int = 8) -> torch.Tensor:
    y = (torch.arange(n)[:, None] + torch.arange(n)[None, :]) % 2
    return y.float().expand(2, 3, n, n).clone()


def test_simo_matches_hand_computed_value_with_area_downsampling() -> None:
    y = _checkerboard()  # box-downsampled to 0.5 everywhere; nearest would give 0 or 1
    a = torch.tensor([0.1, 0.2]).view(2, 1, 1, 1)
    outputs = (
        y + a,
        torch.full((2, 3, 4, 4), 0.6),
        torch.full((2, 3, 2, 2), 0.3),
        torch.full((2, 3, 1, 1), 0.5),
    )
    expected = K * (
        0.5 * (math.log(0.01 + EPS) + math.log(0.04 + EPS))
        + 0.5 * math.log(0.01 + EPS)
        + 0.25 * math.log(0.04 + EPS)
        + 0.125 * math.log(0.0 + EPS)
    )
    assert float(simo_loss(outputs, y)) == pytest.approx(expected, rel=1e-5)
    # single-scale PSNR loss: the k = 0 term alone, i.e. minus the mean PSNR (peak 1)
    assert float(psnr_loss(outputs, y)) == pytest.approx(
        K * 0.5 * (math.log(0.01 + EPS) + math.log(0.04 + EPS)), rel=1e-5
    )
    assert float(psnr_loss(outputs, y)) == pytest.approx(
        -(20 + 10 * math.log10(1 / 0.04)) / 2, rel=1e-5
    )


def test_simo_custom_scales_and_missing_aux_heads() -> None:
    y = torch.zeros(1, 3, 8, 8)
    outs = (
        torch.full_like(y, 0.1),
        torch.full((1, 3, 4, 4), 0.1),
        torch.full((1, 3, 2, 2), 0.1),
        torch.full((1, 3, 1, 1), 0.1),
    )
    value = float(simo_loss(outs, y, (1.0, 0.1, 0.05, 0.01)))
    assert value == pytest.approx(K * math.log(0.01 + EPS) * 1.16, rel=1e-5)
    with pytest.raises(TrainingError, match="aux"):
        simo_loss((outs[0], None, None, None), y)


def test_l1_and_charbonnier() -> None:
    y = torch.zeros(2, 3, 4, 4)
    pred = torch.full_like(y, 0.1)
    pred[0, 0, 0, 0] = -0.3
    n = y.numel()
    assert float(l1_loss((pred,), y)) == pytest.approx(((n - 1) * 0.1 + 0.3) / n, rel=1e-6)
    expected = ((n - 1) * math.sqrt(0.01 + 1e-6) + math.sqrt(0.09 + 1e-6)) / n
    assert float(charbonnier_loss((pred,), y, 1e-3)) == pytest.approx(expected, rel=1e-6)


def test_fft_loss_of_a_delta_and_against_numpy() -> None:
    y = torch.zeros(1, 3, 8, 8)
    pred = y.clone()
    pred[0, :, 0, 0] = 0.4  # F(δ) = 0.4 at every frequency, imaginary parts 0
    assert float(fft_loss((pred,), y)) == pytest.approx(0.2, rel=1e-6)
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 3, 6, 10)), rng.random((2, 3, 6, 10))
    diff = np.fft.fft2(a, axes=(-2, -1)) - np.fft.fft2(b, axes=(-2, -1))
    expected = np.concatenate([np.abs(diff.real).ravel(), np.abs(diff.imag).ravel()]).mean()
    got = float(fft_loss((torch.from_numpy(a).float(),), torch.from_numpy(b).float()))
    assert got == pytest.approx(expected, rel=1e-5)


def test_fft_loss_is_float32_under_autocast() -> None:
    a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = fft_loss((a.bfloat16(),), b)
    assert value.dtype == torch.float32
    assert float(value) == pytest.approx(float(fft_loss((a.bfloat16().float(),), b)), rel=1e-6)


def _np_gauss(x: np.ndarray) -> np.ndarray:
    v = np.array([0.05, 0.25, 0.4, 0.25, 0.05])
    k = np.outer(v, v)
    p = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="edge")
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    for i in range(5):
        for j in range(5):
            out += k[i, j] * p[..., i : i + h, j : j + w]
    return out


def _np_lap(x: np.ndarray) -> np.ndarray:
    g = _np_gauss(x)
    up = np.zeros_like(g)
    up[..., ::2, ::2] = 4 * g[..., ::2, ::2]
    return x - _np_gauss(up)


def test_edge_loss_against_an_independent_numpy_version() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random((2, 3, 10, 14)), rng.random((2, 3, 10, 14))
    expected = np.sqrt((_np_lap(a) - _np_lap(b)) ** 2 + 1e-6).mean()
    got = float(edge_loss((torch.from_numpy(a).float(),), torch.from_numpy(b).float()))
    assert got == pytest.approx(expected, rel=1e-5)
    same = torch.from_numpy(a).float()
    assert float(edge_loss((same,), same)) == pytest.approx(1e-3, rel=1e-6)


def test_edge_kernel_lives_on_the_input_device() -> None:
    # seed bug 8: the kernel was pinned to CUDA; on the meta device any other device fails
    x = torch.empty(1, 3, 8, 8, device="meta")
    assert edge_loss((x,), x).device.type == "meta"


def test_wavelet_term_matches_the_golden() -> None:
    sidecar, arrays = load_golden("ce_mlwnet_small")
    model = create(registry_name(sidecar["model"]), **our_config(sidecar["config"]))
    model.load_state_dict(state_dict_of(arrays), strict=True)
    x = torch.zeros(1, 3, 16, 16)
    values = Criterion(LossSection(wavelet=1.0))((x,), x, model)
    assert float(values.terms["wavelet"]) == pytest.approx(float(arrays["@wavelet_loss"]), abs=1e-5)


def test_criterion_weights_terms_and_reports_them_unweighted() -> None:
    y = torch.zeros(1, 3, 8, 8)
    pred = torch.full_like(y, 0.1)
    crit = Criterion(LossSection(l1=1.0, fft=0.1, charbonnier=2.0))
    values = crit((pred,), y, torch.nn.Identity())
    assert list(values.terms) == ["l1", "charbonnier", "fft"]
    total = sum(
        w * float(values.terms[n]) for n, w in (("l1", 1.0), ("charbonnier", 2.0), ("fft", 0.1))
    )
    assert float(values.total) == pytest.approx(total, rel=1e-6)
    assert not crit.needs_aux and Criterion(LossSection(simo=1.0)).needs_aux
