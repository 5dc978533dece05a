"""The inference layer: any image size, whole-image vs tiled, TTA, resizing, OOM retries."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.restore import perturbed, tiny_checkpoint
from torch import nn

from deblur_cli.defaults import PRECISIONS
from deblur_cli.errors import (
    InputArrayError,
    InvalidArgumentError,
    RestoreError,
)
from deblur_cli.inference import (
    AUTOCAST_DTYPES,
    Restorer,
    TileSettings,
    cudnn_benchmark,
    default_tiles,
    default_weights,
    load_for_inference,
    resolve_device,
    resolve_tiles,
    restore_image,
    torch_threads,
)
from deblur_cli.inference import runtime as runtime_module
from deblur_cli.models import get_spec


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
    model = perturbed("ce-mlwnet")
    img = np.random.RandomState(2).rand(32, 48, 3).astype(np.float32)
    spec = get_spec("ce-mlwnet")
    plain = Restorer(model, spec, device="cpu", tiles=TileSettings(0, 0)).restore(img)[0]
    tta = Restorer(model, spec, device="cpu", tiles=TileSettings(0, 0), tta=True).restore(img)[0]
    assert np.abs(plain - tta).max() > 1e-4  # the views really differ and get averaged


def test_tiled_agrees_with_whole_image_away_from_seams() -> None:
    model = perturbed("fftformer")
    spec = get_spec("fftformer")
    img = np.random.RandomState(0).rand(200, 260, 3).astype(np.float32)
    whole = Restorer(model, spec, device="cpu", tiles=TileSettings(0, 0)).restore(img)[0]
    tiled = Restorer(model, spec, device="cpu", tiles=TileSettings(128, 64)).restore(img)[0]
    change = np.abs(whole - img).mean()  # how much the network alters the image
    assert change > 0.05
    assert np.abs(whole - tiled).mean() < 0.1 * change


def test_restore_image_function_uses_the_models_registry_entry() -> None:
    model = perturbed("mlwnet")
    img = np.random.RandomState(3).rand(30, 45, 3).astype(np.float32)
    out = restore_image(model, img, tile=32, overlap=16)
    ref = Restorer(model, get_spec("mlwnet"), device="cpu", tiles=TileSettings(32, 16)).restore(img)[0]
    np.testing.assert_array_equal(out, ref)
    assert out.min() >= 0 and out.max() <= 1


def test_bf16_autocast_on_cpu() -> None:
    model = perturbed("hybridnet")
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


def test_unavailable_and_unknown_devices_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on a GPU machine
    with pytest.raises(RestoreError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(InvalidArgumentError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_unknown_precision_is_an_error() -> None:
    with pytest.raises(InvalidArgumentError, match="precision"):
        Restorer(Shift(), get_spec("ce-mlwnet"), device="cpu", precision="fp8")


def test_every_precision_name_has_an_autocast_dtype() -> None:
    assert tuple(AUTOCAST_DTYPES) == PRECISIONS


@pytest.mark.parametrize("name", ["hybridnet", "ce-mlwnet", "fftformer"])
def test_channels_last_gives_the_same_result(name: str) -> None:
    model = perturbed(name)
    spec = get_spec(name)
    img = np.random.RandomState(7).rand(64, 64, 3).astype(np.float32)
    ref = Restorer(model, spec, device="cpu", channels_last=False, tiles=TileSettings(0, 0)).restore(img)[0]
    fast = Restorer(model, spec, device="cpu", channels_last=True, tiles=TileSettings(0, 0))
    assert fast.channels_last
    assert any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last)
               and not p.is_contiguous() for p in model.parameters())  # fmt: skip
    np.testing.assert_allclose(fast.restore(img)[0], ref, atol=1e-5)


def test_resolve_tiles_applies_user_choices_to_registry_defaults() -> None:
    spec, cpu = get_spec("mlwnet"), torch.device("cpu")
    assert resolve_tiles(spec, cpu) == TileSettings(256, 128, 4)  # 4 tiles of 256 per forward
    assert resolve_tiles(spec, cpu, tile=512) == TileSettings(512, 256, 1)
    assert resolve_tiles(spec, cpu, tile=0, overlap=64).overlap == 0
    assert resolve_tiles(spec, torch.device("cuda"), tile=512).tile_batch == 4
    with pytest.raises(InvalidArgumentError, match="must be smaller"):
        resolve_tiles(spec, cpu, tile=64, overlap=64)


@pytest.mark.parametrize("tile_batch", [0, -3])
def test_tile_batch_below_one_is_an_error_not_the_default(tile_batch: int) -> None:
    spec, cpu = get_spec("mlwnet"), torch.device("cpu")
    with pytest.raises(InvalidArgumentError, match="tile batch must be at least 1"):
        resolve_tiles(spec, cpu, tile_batch=tile_batch)
    with pytest.raises(InvalidArgumentError, match="tile batch"):
        TileSettings(256, 128, tile_batch)


@pytest.mark.parametrize(
    "settings",
    [dict(tile=-1, overlap=0), dict(tile=64, overlap=-1), dict(tile=64, overlap=8, blend="box"),
     dict(tile=64, overlap=8, placement="random"), dict(tile=64, overlap=8, margin=-1)],
)  # fmt: skip
def test_tile_settings_are_checked_when_built(settings: dict) -> None:
    with pytest.raises(InvalidArgumentError):
        TileSettings(**settings)


# --- the public API checks what it is given (issue 10, defect 7) -----------------------------


def _restorer() -> Restorer:
    return Restorer(Shift(), get_spec("ce-mlwnet"), device="cpu", tiles=TileSettings(0, 0))


@pytest.mark.parametrize(
    "image, message",
    [
        (np.full((16, 16, 3), 200, np.uint8), r"got dtype uint8; convert with image\.astype\(np\.float32\) / 255"),
        (np.zeros((16, 16, 3), np.uint16), r"/ 65535"),
        (np.zeros((16, 16), np.float32), r"got gray \(16, 16\); replicate it"),
        (np.zeros((16, 16, 1), np.float32), "got gray"),
        (np.zeros((16, 16, 4), np.float32), r"RGBA\?\); pass image\[:, :, :3\]"),
        (np.zeros((3, 16, 16), np.float32), r"H×W×3 RGB image, got shape \(3, 16, 16\)"),
        (np.zeros((0, 16, 3), np.float32), "non-empty"),
        (np.full((16, 16, 3), 255.0, np.float32), r"values in \[0, 1\], found 255\.\.255"),
        (np.full((16, 16, 3), np.nan, np.float32), "NaN"),
        (torch.zeros(1, 3, 16, 16), "restore_tensor"),
        ([[0.5, 0.5, 0.5]], "got list"),
    ],
)  # fmt: skip
def test_restore_refuses_what_it_cannot_restore_faithfully(image: object, message: str) -> None:
    with pytest.raises(InputArrayError, match=message):
        _restorer().restore(image)  # type: ignore[arg-type]


def test_restore_accepts_float64_and_returns_float32() -> None:
    img = np.random.RandomState(8).rand(20, 24, 3) * 0.8
    out, _ = _restorer().restore(img)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, img + 0.1, atol=1e-6)


@pytest.mark.parametrize("x", [torch.zeros(3, 16, 16), torch.zeros(2, 3, 16, 16),
                               torch.zeros(1, 3, 16, 16, dtype=torch.uint8)])  # fmt: skip
def test_restore_tensor_checks_shape_and_dtype(x: torch.Tensor) -> None:
    with pytest.raises(InputArrayError):
        _restorer().restore_tensor(x)


@pytest.mark.parametrize("resize_long", [0, -5])
def test_resize_long_below_one_is_an_error(resize_long: int) -> None:
    with pytest.raises(InvalidArgumentError, match="resize_long"):
        _restorer().restore(np.zeros((20, 30, 3), np.float32), resize_long=resize_long)


# --- process-wide settings are scoped or explicit (issue 10, "Errors") -----------------------


def test_threads_and_cudnn_benchmark_are_restored_after_use() -> None:
    threads, bench = torch.get_num_threads(), torch.backends.cudnn.benchmark
    with torch_threads(1), cudnn_benchmark(not bench):
        assert torch.get_num_threads() == 1 and torch.backends.cudnn.benchmark is not bench
    assert torch.get_num_threads() == threads and torch.backends.cudnn.benchmark is bench
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("restored on errors too")
    assert torch.get_num_threads() == threads


def test_allocator_setting_is_never_a_side_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(runtime_module, "_ALLOCATOR_TUNED", False)
    monkeypatch.setattr(runtime_module.ctypes, "CDLL", lambda name: calls.append(name))
    _restorer().restore(np.zeros((16, 16, 3), np.float32))
    assert calls == []  # building and running a CPU Restorer leaves glibc alone
    monkeypatch.setenv("DEBLUR_KEEP_FREED_MEMORY", "0")
    assert runtime_module.keep_freed_memory() is False and calls == []


# --- loading: default weights and the local converter ----------------------------------------


def test_mlwnet_and_mlwnet_local_default_to_the_same_published_small_network() -> None:
    plain, local = default_weights("mlwnet"), default_weights("mlwnet-local")
    assert plain == local
    # the registry lists MLWNet-B (dim 64) first; the published config of both names is dim 32
    published_dim = get_spec("mlwnet").config.dim
    assert plain.config.get("dim", published_dim) == published_dim


def test_tlc_choice_when_loading(tmp_path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "mlwnet.pth", "mlwnet")
    assert load_for_inference("mlwnet", str(ckpt)).tlc is False
    assert load_for_inference("mlwnet-local", str(ckpt)).tlc is True
    assert load_for_inference("mlwnet", str(ckpt), tlc=True).tlc is True
    with pytest.raises(InvalidArgumentError, match="always uses the local converter.*--model mlwnet"):
        load_for_inference("mlwnet-local", str(ckpt), tlc=False)
