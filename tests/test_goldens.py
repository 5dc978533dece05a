"""Numerical goldens made with the authors' code (fixtures/README.md): strict load, atol 1e-5."""

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

from deblur_cli.models import TLCConfig, apply_tlc, create
from deblur_cli.models.blocks import (
    DFFN,
    FSAS,
    LWN,
    DilatedNAFBlock,
    LayerNorm2d,
    NAFBlock,
    WaveletBlock,
)
from deblur_cli.models.fftformer import Fuse, TransformerBlock
from deblur_cli.models.hybridnet import DecoderBlock
from deblur_cli.models.tlc import LocalAvgPool

ATOL = 1e-5
MODEL_GOLDENS = [
    "fftformer_small",
    "official_fftformer_small",
    "mlwnet_small",
    "hybridnet_small",
    "ce_mlwnet_small",
]


def _build(sidecar: dict) -> torch.nn.Module:
    return create(registry_name(sidecar["model"]), **our_config(sidecar["config"]))


@pytest.mark.parametrize("golden", MODEL_GOLDENS)
def test_model_golden_all_outputs(golden: str) -> None:
    sidecar, arrays = load_golden(golden)
    model = _build(sidecar)
    model.load_state_dict(state_dict_of(arrays), strict=True)
    x = torch.from_numpy(arrays["@input"])
    with torch.no_grad():
        outputs = model(x, return_aux=True) if len(sidecar["outputs"]) > 1 else (model(x),)
    assert len(outputs) == len(sidecar["outputs"])
    for out, name in zip(outputs, sidecar["outputs"]):
        assert max_abs_diff(out, arrays[name]) <= ATOL, name
    if "@wavelet_loss" in arrays:
        loss = model.wavelet_loss().detach()
        assert abs(float(loss) - float(arrays["@wavelet_loss"])) <= ATOL


@pytest.mark.parametrize("golden", MODEL_GOLDENS)
def test_eval_forward_returns_only_the_restored_image(golden: str) -> None:
    sidecar, arrays = load_golden(golden)
    model = _build(sidecar)
    model.load_state_dict(state_dict_of(arrays), strict=True)
    with torch.no_grad():
        out = model(torch.from_numpy(arrays["@input"]))
    assert isinstance(out, torch.Tensor)
    assert max_abs_diff(out, arrays["@output_0"]) <= ATOL


@pytest.mark.parametrize("golden", ["hybridnet_small", "ce_mlwnet_small"])
def test_aux_heads_off_drops_only_the_aux_keys_and_keeps_output0(golden: str) -> None:
    sidecar, arrays = load_golden(golden)
    cfg = {**our_config(sidecar["config"]), "aux_heads": False}
    model = create(registry_name(sidecar["model"]), **cfg)
    sd = state_dict_of(arrays)
    aux = set(sidecar["aux_head_keys"])
    assert set(sd) - set(model.state_dict()) == aux
    model.load_state_dict({k: v for k, v in sd.items() if k not in aux}, strict=True)
    with torch.no_grad():
        out, *heads = model(torch.from_numpy(arrays["@input"]), return_aux=True)
    assert heads == [None, None, None]
    assert max_abs_diff(out, arrays["@output_0"]) <= ATOL


def test_official_mlwnet_eval_and_train_outputs() -> None:
    sidecar, arrays = load_golden("official_mlwnet_small")
    _, weights = load_golden("mlwnet_small")
    model = _build(sidecar)
    model.load_state_dict(state_dict_of(weights), strict=True)
    x = torch.from_numpy(weights["@input"])
    with torch.no_grad():
        assert max_abs_diff(model(x), arrays["@output_0"]) <= ATOL
        model.train()
        train_out = model(x)
    assert len(train_out) == 4
    for i, out in enumerate(train_out):
        assert max_abs_diff(out, arrays[f"@train_output_{i}"]) <= ATOL


def _tlc_config(case: dict) -> TLCConfig:
    return TLCConfig(train_size=tuple(case["train_size"][-2:]), base_size=tuple(case["base_size"]))


@pytest.mark.parametrize("case", ["a", "b"])
def test_mlwnet_local_golden(case: str) -> None:
    sidecar, arrays = load_golden("mlwnet_local_small")
    _, weights = load_golden("mlwnet_small")
    spec = sidecar["cases"][case]
    model = apply_tlc(create("mlwnet", dim=4), _tlc_config(spec))
    model.load_state_dict(state_dict_of(weights), strict=True)
    kernels = {n: list(m.kernel_size) for n, m in model.named_modules() if isinstance(m, LocalAvgPool)}
    assert kernels == {name: k for name, k in spec["pool_kernels"]}
    with torch.no_grad():
        outputs = model(torch.from_numpy(arrays[spec["input"]["name"]]), return_aux=True)
    for out, name in zip(outputs, spec["outputs"]):
        assert max_abs_diff(out, arrays[name]) <= ATOL, name


@pytest.mark.parametrize("case", ["a", "b"])
def test_official_mlwnet_local_golden_via_registry(case: str) -> None:
    sidecar, arrays = load_golden("official_mlwnet_small")
    _, weights = load_golden("mlwnet_small")
    kwargs = sidecar["tlc_cases"][case]["constructor_kwargs"]
    if "train_size" in kwargs:
        model = apply_tlc(create("mlwnet", dim=4), TLCConfig(tuple(kwargs["train_size"][-2:])))
    else:  # the published defaults: exactly what `create("mlwnet-local")` builds
        model = create("mlwnet-local", dim=4)
    model.load_state_dict(state_dict_of(weights), strict=True)
    with torch.no_grad():
        out = model(torch.from_numpy(arrays[f"@tlc_{case}_input"]))
    assert max_abs_diff(out, arrays[f"@tlc_{case}_output_0"]) <= ATOL


# ------------------------------------------------------------------------------------------
# Block goldens: each case is one module with perturbed parameters.

BLOCK_BUILDERS = {
    "fft_dffn": lambda: DFFN(8, 3, bias=False),
    "fft_fsas": lambda: FSAS(8, bias=False),
    "fft_block_att": lambda: TransformerBlock(8, 3, bias=False, attention=True),
    "fft_block_noatt": lambda: TransformerBlock(8, 3, bias=False, attention=False),
    "fft_fuse": lambda: Fuse(8),
    "mlw_nafblock": lambda: NAFBlock(8),
    "lwn_k7": lambda: LWN(4, (7,)),
    "lwn_k53": lambda: LWN(4, (5, 3)),
    "mlw_waveletblock": lambda: WaveletBlock(8, (7,)),
    "ce_waveletblock": lambda: WaveletBlock(8, (5, 3)),
    "ce_nafblock": lambda: DilatedNAFBlock(8),
    "hyb_encoderblock": lambda: DilatedNAFBlock(8),
    "hyb_dffn": lambda: DFFN(8, 2, bias=True),
    "hyb_decoderblock": lambda: DecoderBlock(8),
    "layernorm2d": lambda: LayerNorm2d(6),
}


def test_every_block_case_is_covered() -> None:
    sidecar, _ = load_golden("blocks_small")
    tlc_cases = {c for c in sidecar["cases"] if c.startswith("tlc_pool_")}
    assert set(sidecar["cases"]) == set(BLOCK_BUILDERS) | tlc_cases
    assert len(tlc_cases) == 4


@pytest.mark.parametrize("case", sorted(BLOCK_BUILDERS))
def test_block_golden(case: str) -> None:
    assert block_golden_diff(BLOCK_BUILDERS[case]().eval(), case) <= ATOL


@pytest.mark.parametrize("case", ["lwn_k7", "lwn_k53"])
def test_wavelet_transforms_and_losses(case: str) -> None:
    _, arrays = load_golden("blocks_small")
    lwn = LWN(4, (7,) if case == "lwn_k7" else (5, 3))
    lwn.load_state_dict(state_dict_of(arrays, f"{case}/"), strict=True)
    x = torch.from_numpy(arrays[f"{case}/@input"])
    with torch.no_grad():
        bands = lwn.dwt(x).chunk(4, dim=1)
        for band, name in zip(bands, ["ll", "lh", "hl", "hh"]):
            assert max_abs_diff(band, arrays[f"{case}/@dwt_{name}"]) <= ATOL, name
        assert max_abs_diff(lwn.idwt(lwn.dwt(x)), arrays[f"{case}/@idwt_of_dwt"]) <= ATOL
        pr, ac = lwn.wavelet_loss_terms()
    assert abs(float(pr) - float(arrays[f"{case}/@pr_loss"])) <= ATOL
    assert abs(float(ac) - float(arrays[f"{case}/@ac_loss"])) <= ATOL
    assert float(pr) > 0 and float(ac) > 0


def test_haar_wavelet_unit_is_perfect_reconstruction() -> None:
    lwn = LWN(3, (7,))
    x = torch.rand(2, 3, 8, 12)
    with torch.no_grad():
        assert float((lwn.idwt(lwn.dwt(x)) - x).abs().max()) < 1e-6
        assert float(lwn.wavelet_loss()) < 1e-12


def test_layernorm2d_backward_matches_golden() -> None:
    _, arrays = load_golden("blocks_small")
    norm = LayerNorm2d(6)
    norm.load_state_dict(state_dict_of(arrays, "layernorm2d/"), strict=True)
    x = torch.from_numpy(arrays["layernorm2d/@input"]).clone().requires_grad_(True)
    (norm(x) * torch.from_numpy(arrays["layernorm2d/@upstream_grad"])).sum().backward()
    assert max_abs_diff(x.grad, arrays["layernorm2d/@grad_input"]) <= ATOL
    assert max_abs_diff(norm.weight.grad, arrays["layernorm2d/@grad_weight"]) <= ATOL
    assert max_abs_diff(norm.bias.grad, arrays["layernorm2d/@grad_bias"]) <= ATOL


@pytest.mark.parametrize("case", ["tlc_pool_local", "tlc_pool_mixed", "tlc_pool_global", "tlc_pool_even"])
def test_tlc_pool_golden(case: str) -> None:
    sidecar, arrays = load_golden("blocks_small")
    pool = LocalAvgPool(tuple(sidecar["cases"][case]["kernel_size"]), level=0)
    out = pool(torch.from_numpy(arrays[f"{case}/@input"]))
    expected = arrays[f"{case}/@output"]
    assert tuple(out.shape) == expected.shape
    assert max_abs_diff(out, expected) <= ATOL
