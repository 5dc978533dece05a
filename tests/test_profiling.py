"""deblur profile: labelled parameter counts, both MAC counts, latency statistics, JSON."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from model_fixtures import load_manifest
from typer.testing import CliRunner

from deblur_cli.cli.app import app
from deblur_cli.models import create
from deblur_cli.profiling import (
    ProfileOptions,
    count_macs,
    profile_model,
    summarize_ms,
    time_cpu,
)

MANIFEST_OF = {
    "fftformer": ("fftformer", "torchinfo_mult_adds_256"),
    "mlwnet": ("mlwnet", "torchinfo_mult_adds_256_official_eval"),
    "mlwnet-local": ("mlwnet", "torchinfo_mult_adds_256_official_eval"),
    "hybridnet": ("hybridnet", "torchinfo_mult_adds_256"),
    "ce-mlwnet": ("ce_mlwnet", "torchinfo_mult_adds_256"),
}
# Parameters the eval forward actually uses (architectures §7).
USED = {
    "fftformer": 16_542_042,
    "mlwnet": 24_097_059,
    "mlwnet-local": 24_097_059,
    "hybridnet": 15_626_243,
    "ce-mlwnet": 20_330_531,
}


@pytest.mark.parametrize("name", list(MANIFEST_OF))
def test_profile_counts_match_manifests(name: str) -> None:
    manifest_name, key = MANIFEST_OF[name]
    manifest = load_manifest(manifest_name)
    report = profile_model(name, ProfileOptions(timing=False))
    assert report.macs_torchinfo == manifest[key]
    assert report.params == manifest["total_params"]
    assert report.params_with_aux == manifest.get("total_params_aux_heads", manifest["total_params"])
    assert report.params_used == USED[name]
    assert report.macs_full >= report.macs_torchinfo
    assert report.latency_ms is None


def _meta_macs(name: str, size: int, **cfg):
    with torch.device("meta"):
        return count_macs(create(name, **cfg), torch.empty(1, 3, size, size))


def test_fftformer_fft_count_scales_with_pixels() -> None:
    small, big = _meta_macs("fftformer", 64), _meta_macs("fftformer", 128)
    assert small.fft > 0 and big.fft == 4 * small.fft  # fixed 8x8 patches: linear in pixels
    assert big.full - big.torchinfo == 4 * (small.full - small.torchinfo)


def test_fft_count_is_five_n_log_n_per_patch_transform() -> None:
    # One DFFN block at 16x16 with C channels: 2h channels of 4 patches, forward + inverse.
    from deblur_cli.models.blocks import DFFN

    with torch.device("meta"):
        macs = count_macs(DFFN(8, 3, bias=False), torch.empty(1, 8, 16, 16))
    transforms = 2 * (8 * 3 * 2) * 4  # r2c and c2r, 48 channels, 4 patches each
    assert macs.fft == transforms * 5 * 64 * 6 // 2


def test_wavelet_models_count_functional_convs() -> None:
    macs = _meta_macs("mlwnet", 64, dim=4)
    assert macs.functional_convs > 0 and macs.fft == 0
    assert _meta_macs("hybridnet", 64, dim=4).functional_convs == 0


def test_latency_statistics_with_a_fake_clock() -> None:
    ticks = itertools.count()
    durations = iter([5, 1, 2, 3, 4, 10])  # ms per call; the first is warm-up
    calls = []
    now = [0.0]

    def clock() -> float:
        next(ticks)
        return now[0]

    def fn() -> None:
        calls.append(1)
        now[0] += next(durations) / 1000.0

    samples = time_cpu(fn, warmup=1, iters=5, clock=clock)
    assert len(calls) == 6
    assert samples == pytest.approx([1, 2, 3, 4, 10])
    stats = summarize_ms(samples)
    assert stats.median == pytest.approx(3)
    assert stats.mean == pytest.approx(4)
    assert stats.p10 == pytest.approx(1.4)
    assert stats.p90 == pytest.approx(7.6)
    assert stats.runs == 5


def test_summarize_rejects_empty() -> None:
    with pytest.raises(ValueError):
        summarize_ms([])


def test_profile_size_must_fit_the_model() -> None:
    with pytest.raises(ValueError, match="multiple of 64"):
        profile_model("hybridnet", ProfileOptions(size=96, timing=False))


def test_profile_cli_json_schema() -> None:
    result = CliRunner().invoke(
        app, ["profile", "--model", "ce-mlwnet", "--size", "64", "--iters", "2", "--warmup", "1",
              "--device", "cpu", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("model", "size", "params", "params_with_aux", "macs_torchinfo", "macs_full",
                "latency_ms", "peak_memory_mb", "device", "environment"):  # fmt: skip
        assert key in data
    assert set(data["latency_ms"]) >= {"median", "p10", "p90", "mean"}
    assert data["latency_ms"]["p10"] <= data["latency_ms"]["median"] <= data["latency_ms"]["p90"]
    assert data["model"] == "ce-mlwnet" and data["size"] == 64 and data["device"] == "cpu"
    assert data["peak_memory_mb"] > 0


def test_profile_all_table_has_every_model() -> None:
    result = CliRunner().invoke(app, ["profile", "--no-timing", "--size", "64"])
    assert result.exit_code == 0, result.output
    for name in MANIFEST_OF:
        assert name in result.stdout


def test_profile_unknown_model_is_one_line_error() -> None:
    result = CliRunner().invoke(app, ["profile", "--model", "mlwnett", "--no-timing"])
    assert result.exit_code == 1
    assert "did you mean 'mlwnet'" in result.output


def test_complete_count_does_not_depend_on_how_residual_updates_are_written() -> None:
    # x + s * t written as one fused addcmul must still count its products.
    from deblur_cli.models.blocks import NAFBlock

    with torch.device("meta"):
        macs = count_macs(NAFBlock(8), torch.empty(1, 8, 16, 16))
    gates, sca, residuals = 2 * 8 * 256, 8 * 256, 2 * 8 * 256
    assert macs.elementwise == gates + sca + residuals


def test_profile_channels_last_works_with_five_dimensional_parameters() -> None:
    report = profile_model(
        "hybridnet", ProfileOptions(size=64, iters=1, warmup=0, channels_last=True, device="cpu")
    )
    assert report.channels_last and report.latency_ms.runs == 1
