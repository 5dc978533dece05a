"""The public model API: registry, create(), input contract, TLC derivation."""

from __future__ import annotations

import pytest
import torch

import deblur_cli.models as models
from deblur_cli.errors import InputSizeError, InvalidArgumentError, UnknownModelError
from deblur_cli.models import TLCConfig, apply_tlc, create, get_spec, list_models
from deblur_cli.models.tlc import LocalAvgPool, count_sca_pools, local_kernel


def test_list_models_names() -> None:
    assert list_models() == [
        "fftformer", "mlwnet", "mlwnet-local", "hybridnet", "ce-mlwnet", "ce-mlwnet-tiny"
    ]


@pytest.mark.parametrize("alias, name", [("ce_mlwnet", "ce-mlwnet"), ("MLWNet_Local", "mlwnet-local")])
def test_underscore_aliases(alias: str, name: str) -> None:
    assert get_spec(alias).name == name


def test_unknown_model_suggests_closest() -> None:
    with pytest.raises(UnknownModelError, match="did you mean 'mlwnet'"):
        get_spec("mlwnt")


def test_unknown_config_field_is_an_error() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown config field"):
        create("mlwnet", dims=64)


@pytest.mark.parametrize("name", list_models())
def test_spec_carries_the_input_contract(name: str) -> None:
    spec = get_spec(name)
    assert spec.default_tile % spec.size_multiple == 0
    assert 0 <= spec.default_overlap < spec.default_tile
    assert spec.paper and spec.description


@pytest.mark.parametrize("name", list_models())
def test_create_is_eval_and_returns_image(name: str) -> None:
    model = create(name, **get_spec(name).tiny_config)
    assert not model.training
    m = get_spec(name).size_multiple
    x = torch.rand(1, 3, m, 2 * m)
    with torch.no_grad():
        y = model(x)
    assert isinstance(y, torch.Tensor) and y.shape == x.shape


@pytest.mark.parametrize("name", list_models())
def test_size_multiple_error_names_model_size_and_multiple(name: str) -> None:
    model = create(name, **get_spec(name).tiny_config)
    m = get_spec(name).size_multiple
    with pytest.raises(ValueError) as info:
        model(torch.rand(1, 3, m, m + 8))
    msg = str(info.value)
    assert isinstance(info.value, InputSizeError)
    assert get_spec(name).name in msg and f"{m}x{m + 8}" in msg and str(m) in msg


@pytest.mark.parametrize("name", ["mlwnet", "hybridnet", "ce-mlwnet"])
def test_training_mode_returns_aux_tuple(name: str) -> None:
    cfg = {**get_spec(name).tiny_config} | ({"aux_heads": True} if name != "mlwnet" else {})
    model = create(name, **cfg).train()
    m = get_spec(name).size_multiple
    out = model(torch.rand(1, 3, m, m))
    assert isinstance(out, tuple) and len(out) == 4
    assert [o.shape[-1] for o in out] == [m, m // 2, m // 4, m // 8]


def test_published_defaults_and_overrides() -> None:
    with torch.device("meta"):
        assert create("mlwnet").config.dim == 32
        assert create("mlwnet", dim=64).config.dim == 64
        assert create("hybridnet").config.aux_heads is False


def test_tlc_kernels_are_analytic_and_use_no_rng() -> None:
    state = torch.random.get_rng_state()
    with torch.device("meta"):
        model = create("mlwnet-local")
    assert torch.equal(state, torch.random.get_rng_state())  # meta init draws nothing
    pools = [m for m in model.modules() if isinstance(m, LocalAvgPool)]
    assert len(pools) == count_sca_pools(model) == 43  # 31 encoder + 4 fusion + 8 decoder
    assert {m.level: m.kernel_size for m in pools} == {
        0: (384, 384), 1: (192, 192), 2: (96, 96), 3: (48, 48)
    }


def test_apply_tlc_consumes_no_random_numbers() -> None:
    model = create("mlwnet", dim=4)
    state = torch.random.get_rng_state()
    apply_tlc(model)
    assert torch.equal(state, torch.random.get_rng_state())


@pytest.mark.parametrize("level, train, base, expected", [
    (0, 256, None, 384), (3, 256, None, 48), (2, 32, 48, 12), (1, 100, 150, 75),
])
def test_local_kernel_formula(level, train, base, expected) -> None:
    cfg = TLCConfig((train, train), None if base is None else (base, base))
    assert local_kernel(level, cfg) == (expected, expected)


@pytest.mark.parametrize("name", ["hybridnet", "ce-mlwnet"])
def test_tlc_extends_to_other_models_with_sca(name: str) -> None:
    model = create(name, **get_spec(name).tiny_config)
    before = count_sca_pools(model)
    apply_tlc(model, TLCConfig((16, 16)))
    assert before > 0 and sum(isinstance(m, LocalAvgPool) for m in model.modules()) == before
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        assert model(x).shape == x.shape


def test_tlc_leaves_fftformer_unchanged() -> None:
    model = create("fftformer", **get_spec("fftformer").tiny_config)
    keys = list(model.state_dict())
    apply_tlc(model)
    assert count_sca_pools(model) == 0 and list(model.state_dict()) == keys


def test_local_pool_equals_global_mean_when_kernel_covers_input() -> None:
    x = torch.rand(2, 3, 10, 12)
    out = LocalAvgPool((10, 12), 0)(x)
    assert out.shape == (2, 3, 1, 1)
    assert torch.allclose(out, x.mean(dim=(2, 3), keepdim=True))


def test_local_pool_is_accurate_at_full_width() -> None:
    # float32 pooling kernels drift ~2e-4 on big features (architectures §3.4); ours must not.
    x = torch.rand(1, 4, 128, 448) * 4 - 1
    out = LocalAvgPool((96, 96), 0)(x)
    ref = LocalAvgPool((96, 96), 0)(x.double())
    assert float((out.double() - ref).abs().max()) < 1e-6


def test_wavelet_loss_only_for_models_with_wavelets() -> None:
    assert float(models.wavelet_loss(create("mlwnet", dim=4)).detach()) == pytest.approx(0, abs=1e-10)
    with pytest.raises(ValueError):
        models.wavelet_loss(create("hybridnet", dim=4))
    for name in list_models():
        assert get_spec(name).has_wavelets == hasattr(create(name, **get_spec(name).tiny_config), "wavelet_loss")


def test_bf16_autocast_keeps_fft_paths_in_fp32() -> None:
    model = create("fftformer", **get_spec("fftformer").tiny_config)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
