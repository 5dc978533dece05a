"""The inference layer: any image size, whole-image vs tiled, TTA, resizing, OOM retries."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deblur_cli.errors import DeblurError
from deblur_cli.inference import (
    RestoreError,
    Restorer,
    TileSettings,
    default_tiles,
    resolve_device,
    restore_image,
)
from deblur_cli.models import create, get_spec

SMALL_FFT = {"dim": 8, "num_blocks": (1, 1, 1), "num_refinement_blocks": 1}


def _perturbed(name: str, **cfg) -> nn.Module:
    torch.manual_seed(0)
    model = create(name, **cfg)
    with torch.no_grad():  # zero-initialised residual scales would make every block an identity
        for key, p in model.named_parameters():
            if key.endswith(("beta", "gamma", "alpha")):
                p.normal_(0, 0.5)
    return model


class Shift(nn.Module):
    """A 'model' with a known answer: adds 0.1 (checks padding, tiling and cropping)."""

    arch_name = "ce-mlwnet"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] % 16 == 0 and x.shape[-2] % 16 == 0
        return x + 0.1


@pytest.mark.parametrize("h, w", [(16, 16), (17, 33), (1, 1), (5, 300), (129, 70)])
@pytest.mark.parametrize("tile", [0, 32])
def test_any_size_round_trips_through_a_known_model(h: int, w: int, tile: int) -> None:
    img = np.random.RandomState(h * w).rand(h, w, 3).astype(np.float32) * 0.8
    restorer = Restorer(Shift(), get_spec("ce-mlwnet"), device="cpu", tiles=TileSettings(tile, 16))
    out, stats = restorer.restore(img)
    assert out.shape == img.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, img + 0.1, atol=1e-6)
    assert stats.input_size == (h, w) and stats.restored_size == (h, w)


def test_tta_of_an_equivariant_model_is_exact() -> None:
    img = np.random.RandomState(1).rand(40, 56, 3).astype(np.float32) * 0.8
    restorer = Restorer(Shift(), get_spec("ce-mlwnet"), device="cpu", tiles=TileSettings(0, 0), tta=True)
    out, stats = restorer.restore(img)
    np.testing.assert_allclose(out, img + 0.1, atol=1e-6)
    assert stats.tiles == 8


def test_tta_averages_eight_views_of_a_real_network() -> None:
    model = _perturbed("ce-mlwnet", dim=4)
    img = np.random.RandomState(2).rand(32, 48, 3).astype(np.float32)
    spec = get_spec("ce-mlwnet")
    plain = Restorer(model, spec, device="cpu", tiles=TileSettings(0, 0)).restore(img)[0]
    tta = Restorer(model, spec, device="cpu", tiles=TileSettings(0, 0), tta=True).restore(img)[0]
    assert np.abs(plain - tta).max() > 1e-4  # the views really differ and get averaged


def test_tiled_agrees_with_whole_image_away_from_seams() -> None:
    model = _perturbed("fftformer", **SMALL_FFT)
    spec = get_spec("fftformer")
    img = np.random.RandomState(0).rand(200, 260, 3).astype(np.float32)
    whole = Restorer(model, spec, device="cpu", tiles=TileSettings(0, 0)).restore(img)[0]
    tiled = Restorer(model, spec, device="cpu", tiles=TileSettings(128, 64)).restore(img)[0]
    change = np.abs(whole - img).mean()  # how much the network alters the image
    assert change > 0.05
    assert np.abs(whole - tiled).mean() < 0.1 * change


def test_restore_image_function_uses_the_models_registry_entry() -> None:
    model = _perturbed("mlwnet", dim=4)
    img = np.random.RandomState(3).rand(30, 45, 3).astype(np.float32)
    out = restore_image(model, img, tile=32, overlap=16)
    ref = Restorer(model, get_spec("mlwnet"), device="cpu", tiles=TileSettings(32, 16)).restore(img)[0]
    np.testing.assert_array_equal(out, ref)
    assert out.min() >= 0 and out.max() <= 1


def test_bf16_autocast_on_cpu() -> None:
    model = _perturbed("hybridnet", dim=4)
    img = np.random.RandomState(4).rand(64, 64, 3).astype(np.float32)
    spec = get_spec("hybridnet")
    fp32 = Restorer(model, spec, device="cpu", tiles=TileSettings(0, 0)).restore(img)[0]
    bf16 = Restorer(model, spec, device="cpu", precision="bf16", tiles=TileSettings(0, 0)).restore(img)[0]
    assert np.isfinite(bf16).all()
    assert np.abs(fp32 - bf16).mean() < 0.05


def test_resize_long_restores_at_the_smaller_size() -> None:
    img = np.random.RandomState(5).rand(100, 200, 3).astype(np.float32) * 0.8
    restorer = Restorer(Shift(), get_spec("ce-mlwnet"), device="cpu", tiles=TileSettings(0, 0))
    out, stats = restorer.restore(img, resize_long=50)
    assert out.shape == (25, 50, 3)
    assert stats.input_size == (100, 200) and stats.restored_size == (25, 50)


class OOMAbove(nn.Module):
    """Raises CUDA out-of-memory for inputs larger than `limit` pixels a side."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(x.shape[-1])
        if max(x.shape[-2:]) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return x


def test_out_of_memory_retries_with_smaller_tiles() -> None:
    model = OOMAbove(64)
    restorer = Restorer(model, get_spec("ce-mlwnet"), device="cpu", tiles=TileSettings(256, 64))
    img = np.random.RandomState(6).rand(300, 300, 3).astype(np.float32)
    out, stats = restorer.restore(img)
    assert stats.retries == 2 and stats.tile == 64
    np.testing.assert_allclose(out, img, atol=1e-6)


def test_out_of_memory_gives_up_with_a_clear_error() -> None:
    restorer = Restorer(OOMAbove(8), get_spec("ce-mlwnet"), device="cpu", tiles=TileSettings(64, 16))
    with pytest.raises(RestoreError, match="out of GPU memory"):
        restorer.restore(np.zeros((100, 100, 3), np.float32))


def test_defaults_come_from_the_registry() -> None:
    spec = get_spec("fftformer")
    assert default_tiles(spec, torch.device("cpu")) == TileSettings(512, 256, 1)
    assert default_tiles(spec, torch.device("cuda")).tile_batch == 4


@pytest.mark.parametrize("device", ["cuda", "tpu"])
def test_unavailable_devices_are_errors(device: str) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.fail("this test expects a CPU-only machine; run the suite without a GPU")
    with pytest.raises(DeblurError):
        resolve_device(device)


def test_unknown_precision_is_an_error() -> None:
    with pytest.raises(DeblurError, match="precision"):
        Restorer(Shift(), get_spec("ce-mlwnet"), device="cpu", precision="fp8")


@pytest.mark.parametrize("name", ["hybridnet", "ce-mlwnet", "fftformer"])
def test_channels_last_gives_the_same_result(name: str) -> None:
    cfg = SMALL_FFT if name == "fftformer" else {"dim": 4}
    model = _perturbed(name, **cfg)
    spec = get_spec(name)
    img = np.random.RandomState(7).rand(64, 64, 3).astype(np.float32)
    ref = Restorer(model, spec, device="cpu", channels_last=False, tiles=TileSettings(0, 0)).restore(img)[0]
    fast = Restorer(model, spec, device="cpu", channels_last=True, tiles=TileSettings(0, 0))
    assert fast.channels_last
    assert any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last)
               and not p.is_contiguous() for p in model.parameters())  # fmt: skip
    np.testing.assert_allclose(fast.restore(img)[0], ref, atol=1e-5)


def test_resolve_tiles_applies_user_choices_to_registry_defaults() -> None:
    from deblur_cli.inference import resolve_tiles

    spec, cpu = get_spec("mlwnet"), torch.device("cpu")
    assert resolve_tiles(spec, cpu) == TileSettings(256, 128, 4)  # 4 tiles of 256 per forward
    assert resolve_tiles(spec, cpu, tile=512) == TileSettings(512, 256, 1)
    assert resolve_tiles(spec, cpu, tile=0, overlap=64).overlap == 0
    assert resolve_tiles(spec, torch.device("cuda"), tile=512).tile_batch == 4
    with pytest.raises(DeblurError, match="must be smaller"):
        resolve_tiles(spec, cpu, tile=64, overlap=64)
