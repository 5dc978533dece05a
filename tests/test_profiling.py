"""deblur profile: labelled parameter counts, both MAC counts, time-bounded latency, the
streamed table, JSON, and one-line errors for bad options."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import torch
import torchinfo
from helpers.models import load_manifest
from typer.testing import CliRunner

from deblur_cli.cli.app import app
from deblur_cli.errors import InvalidArgumentError, ProfileError
from deblur_cli.models import create, list_models
from deblur_cli.profiling import (
    Budget,
    ProfileOptions,
    count_macs,
    profile_model,
    summarize_ms,
    time_cpu,
)

runner = CliRunner()

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


def test_complete_count_does_not_depend_on_how_residual_updates_are_written() -> None:
    # x + s * t written as one fused addcmul must still count its products.
    from deblur_cli.models.blocks import NAFBlock

    with torch.device("meta"):
        macs = count_macs(NAFBlock(8), torch.empty(1, 8, 16, 16))
    gates, sca, residuals = 2 * 8 * 256, 8 * 256, 2 * 8 * 256
    assert macs.elementwise == gates + sca + residuals


# --------------------------------------------------------------------------------------
# Timing


def _fake_timer(durations_s: list[float]) -> tuple[Callable[[], None], Callable[[], float], list[int]]:
    """A pass that advances a fake clock by the next duration, the clock, and a call log."""
    now = [0.0]
    calls: list[int] = []
    remaining = iter(durations_s)

    def fn() -> None:
        calls.append(1)
        now[0] += next(remaining)

    return fn, lambda: now[0], calls


def test_latency_statistics_with_a_fake_clock() -> None:
    fn, clock, calls = _fake_timer([0.005, 0.001, 0.002, 0.003, 0.004, 0.010])  # first: warm-up
    stats = time_cpu(fn, Budget(warmup=1, iters=5, seconds=None), clock=clock)
    assert len(calls) == 6
    assert (stats.runs, stats.warmup_runs) == (5, 1)
    assert stats.median == pytest.approx(3)
    assert stats.mean == pytest.approx(4)
    assert stats.p10 == pytest.approx(1.4)
    assert stats.p90 == pytest.approx(7.6)
    assert stats.seconds == pytest.approx(0.020)


def test_timing_stops_when_the_time_budget_runs_out() -> None:
    # 4 s passes, 10 s budget: warm-up gets one pass (its share is 2.5 s), then two timed passes
    # fit (a third would end at 12 s), although 20 warm-ups and 100 timed passes were asked.
    fn, clock, calls = _fake_timer([4.0] * 200)
    stats = time_cpu(fn, Budget(warmup=20, iters=100, seconds=10.0), clock=clock)
    assert (stats.warmup_runs, stats.runs, len(calls)) == (1, 2, 3)


def test_a_pass_longer_than_the_budget_is_timed_once() -> None:
    fn, clock, calls = _fake_timer([30.0] * 10)
    stats = time_cpu(fn, Budget(warmup=0, iters=100, seconds=10.0), clock=clock)
    assert (stats.warmup_runs, stats.runs, len(calls)) == (0, 1, 1)


def test_summarize_rejects_empty() -> None:
    with pytest.raises(ProfileError, match="no timing samples"):
        summarize_ms([])


def test_profiling_restores_thread_count_and_cudnn_benchmark() -> None:
    threads, benchmark = torch.get_num_threads(), torch.backends.cudnn.benchmark
    options = ProfileOptions(size=64, threads=1, cudnn_benchmark=not benchmark, timing=False)
    report = profile_model("hybridnet", options)
    assert report.environment.threads == 1
    assert torch.get_num_threads() == threads
    assert torch.backends.cudnn.benchmark is benchmark


def test_profile_channels_last_works_with_five_dimensional_parameters() -> None:
    report = profile_model(
        "hybridnet", ProfileOptions(size=64, iters=1, warmup=0, channels_last=True, device="cpu")
    )
    assert report.channels_last and report.latency_ms is not None and report.latency_ms.runs == 1


@pytest.mark.parametrize(
    "field, value",
    [("size", 0), ("batch", 0), ("iters", 0), ("warmup", -1), ("threads", 0), ("time_budget", 0.0),
     ("precision", "fp8")],
)  # fmt: skip
def test_profile_options_refuse_values_out_of_range(field: str, value: object) -> None:
    with pytest.raises(InvalidArgumentError, match=field):
        ProfileOptions(**{field: value})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# The command


def test_profile_cli_json_schema_and_time_budget() -> None:
    # 50 passes asked, a 1 ms budget: one pass is timed, and the report says so.
    result = runner.invoke(
        app, ["profile", "--model", "ce-mlwnet", "--size", "64", "--iters", "50", "--warmup", "0",
              "--time-budget", "0.001", "--device", "cpu", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("model", "size", "params", "params_with_aux", "macs_torchinfo", "macs_full",
                "latency_ms", "peak_memory_mb", "device", "environment", "iters",
                "time_budget_s"):  # fmt: skip
        assert key in data
    assert set(data["latency_ms"]) >= {"median", "p10", "p90", "mean", "runs", "warmup_runs"}
    assert data["latency_ms"]["p10"] <= data["latency_ms"]["median"] <= data["latency_ms"]["p90"]
    assert data["latency_ms"]["runs"] == 1 and data["latency_ms"]["warmup_runs"] == 0
    assert data["iters"] == 50 and data["time_budget_s"] == 0.001
    assert data["model"] == "ce-mlwnet" and data["size"] == 64 and data["device"] == "cpu"
    assert data["peak_memory_mb"] > 0


def test_profile_table_explains_the_latency_range_and_runs() -> None:
    result = runner.invoke(
        app, ["profile", "-m", "hybridnet", "--size", "64", "--iters", "50", "--warmup", "0",
              "--time-budget", "0.001", "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())  # the caption wraps
    assert "median [p10-p90]" in out and "runs" in out
    assert "10th-90th percentile range of the timed passes" in out
    assert "at most 50 passes or 0.001 s, whichever came first" in out


def test_profile_all_table_has_every_model() -> None:
    result = runner.invoke(app, ["profile", "--no-timing", "--size", "64"])
    assert result.exit_code == 0, result.output
    for name in list_models():
        assert name in result.stdout


def test_profile_prints_each_row_as_the_model_finishes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C while the second model is counted: the first model's row is already on stdout.
    real, calls = torchinfo.summary, []

    def interrupt_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(torchinfo, "summary", interrupt_second)
    first, second = list_models()[:2]
    result = runner.invoke(app, ["profile", "--no-timing", "--size", "64"])
    assert result.exit_code == 130
    assert "Complexity at 64x64" in result.stdout and first in result.stdout
    assert second not in result.stdout


@pytest.mark.parametrize(
    "args",
    [["--size", "0"], ["--size", "-32"], ["--batch", "-1"], ["--batch", "0"], ["--iters", "0"],
     ["--warmup", "-1"], ["--threads", "0"], ["--time-budget", "-1"], ["--precision", "fp8"],
     ["--device", "tpu"]],
)  # fmt: skip
def test_profile_bad_options_are_usage_errors(args: list[str]) -> None:
    result = runner.invoke(app, ["profile", "-m", "hybridnet", "--no-timing", *args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a usage message, not a traceback
    assert args[0] in result.output


def test_profile_size_not_a_multiple_is_one_line_error_before_any_model_runs() -> None:
    result = runner.invoke(app, ["profile", "--size", "96", "--no-timing"])
    assert result.exit_code == 1
    assert "hybridnet: size 96 is not a multiple of 64 (try 64 or 128)" in result.stderr
    assert result.stdout == ""  # checked for every model before the first one is profiled


def test_profile_unknown_model_is_one_line_error() -> None:
    result = runner.invoke(app, ["profile", "--model", "mlwnett", "--no-timing"])
    assert result.exit_code == 1
    assert "did you mean 'mlwnet'" in result.output
