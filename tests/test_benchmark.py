"""`deblur benchmark` on a small fake RealBlur-J set with tiny checkpoints (the registry's
tiny configs): the slide-19 table, the cache (hit on a re-run, miss on a changed key), the plot,
the JSON schema, --speed, and one-line errors for bad options."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers.datasets import make_realblur
from typer.testing import CliRunner

from deblur_cli.benchmark import (
    HASHES_NAME,
    BenchmarkError,
    BenchmarkOptions,
    PlotError,
    TileSetting,
    cell_key,
    dataset_hash,
    parse_models,
    parse_tile_settings,
    parse_weights_map,
    plot_benchmark,
    plot_points,
    run_benchmark,
    weights_sha256,
)
from deblur_cli.cli.app import app
from deblur_cli.datasets import load_realblur
from deblur_cli.evaluation import default_protocol
from deblur_cli.models import create, get_spec

runner = CliRunner()
SMALL = ("ce-mlwnet", "mlwnet", "fftformer")  # built at their registry tiny_config
FAST = ["--tiles", "64/32,full", "--ecc-iters", "5", "--workers", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> dict[str, Path]:
    """A 4-image RealBlur-J tree (64x80 and 70x64 images) and one small checkpoint per model."""
    root = tmp_path_factory.mktemp("bench")
    make_realblur(root / "data", n=2)
    paths = {"data": root / "data"}
    for i, name in enumerate(SMALL):
        torch.manual_seed(i)
        paths[name] = root / f"{name}_small.pth"
        model = create(name, **get_spec(name).tiny_config)
        torch.save({"params": model.state_dict()}, paths[name])
    return paths


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEBLUR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _weights(bench: dict[str, Path], *names: str) -> str:
    return ",".join(f"{n}={bench[n]}" for n in names)


def _invoke(bench: dict[str, Path], models: tuple[str, ...], *extra: str):
    args = ["benchmark", "-m", ",".join(models), "-w", _weights(bench, *models)]
    return runner.invoke(app, [*args, "--root", str(bench["data"]), *FAST, *extra])


def _cache_files(home: Path) -> dict[str, int]:
    """Cached cells (file name -> mtime) under the benchmark cache, the hash index left out."""
    folder = home / "benchmarks"
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json") if p.name != HASHES_NAME}


# --------------------------------------------------------------------------------------
# Arguments


def test_parse_arguments() -> None:
    assert parse_tile_settings("256/128, 512/256,FULL") == (
        TileSetting("256/128", 256, 128),
        TileSetting("512/256", 512, 256),
        TileSetting("full", 0, 0),
    )
    assert parse_tile_settings("64")[0] == TileSetting("64/32", 64, 32)
    for bad in ("256/256", "abc", "", "full,0"):
        with pytest.raises(BenchmarkError):
            parse_tile_settings(bad)
    assert parse_models("CE_MLWNet,mlwnet") == ("ce-mlwnet", "mlwnet")
    with pytest.raises(BenchmarkError, match="twice"):
        parse_models("mlwnet,mlwnet")
    assert parse_weights_map("ce_mlwnet=a.pth", ["ce-mlwnet", "mlwnet"]) == {"ce-mlwnet": "a.pth"}
    assert parse_weights_map("a.pth", ["mlwnet"]) == {"mlwnet": "a.pth"}
    with pytest.raises(BenchmarkError, match="MODEL=WEIGHTS"):
        parse_weights_map("a.pth", ["mlwnet", "ce-mlwnet"])
    with pytest.raises(BenchmarkError, match="not in --models"):
        parse_weights_map("fftformer=a.pth", ["mlwnet"])


def test_cache_key_parts(bench: dict[str, Path], tmp_path: Path) -> None:
    data = load_realblur(bench["data"])
    p100, p5 = default_protocol(data.name), default_protocol(data.name, ecc_iters=5)
    base = dataset_hash(data, p5, None)
    assert dataset_hash(data, p5, None) == base
    assert dataset_hash(data, p100, None) != base  # ECC iterations
    assert dataset_hash(data, default_protocol(data.name, align=False), None) != base
    assert dataset_hash(data, p5, 4) != base  # limit
    assert dataset_hash(replace(data, pairs=data.pairs[::-1]), p5, None) == base  # sorted list
    assert dataset_hash(replace(data, pairs=data.pairs[:3]), p5, None) != base
    tile = TileSetting("64/32", 64, 32)
    key = cell_key("mlwnet", "ab" * 32, tile, "fp32", base)
    assert key != cell_key("mlwnet", "cd" * 32, tile, "fp32", base)
    assert key != cell_key("mlwnet", "ab" * 32, TileSetting("64/16", 64, 16), "fp32", base)
    assert key != cell_key("mlwnet-local", "ab" * 32, tile, "fp32", base)
    assert key != cell_key("mlwnet", "ab" * 32, tile, "bf16", base)


def test_weights_hash_is_remembered_by_path_size_and_mtime(tmp_path: Path) -> None:
    ckpt, cache = tmp_path / "w.pth", tmp_path / "cache"
    ckpt.write_bytes(b"weights v1")
    assert weights_sha256(ckpt, cache) == hashlib.sha256(b"weights v1").hexdigest()
    # A remembered hash is trusted while path, size and mtime match: the file is not re-read.
    index = json.loads((cache / HASHES_NAME).read_text())
    index[str(ckpt.resolve())]["sha256"] = "remembered"
    (cache / HASHES_NAME).write_text(json.dumps(index))
    assert weights_sha256(ckpt, cache) == "remembered"
    ckpt.write_bytes(b"weights v2")
    os.utime(ckpt, ns=(1, 1))
    assert weights_sha256(ckpt, cache) == hashlib.sha256(b"weights v2").hexdigest()
    (cache / HASHES_NAME).write_bytes(b"\xff\xfe not json")  # damaged: rebuilt, not an error
    assert weights_sha256(ckpt, cache) == hashlib.sha256(b"weights v2").hexdigest()


# --------------------------------------------------------------------------------------
# The command


def test_benchmark_table_plot_and_cache_hit_on_rerun(
    bench: dict[str, Path], home: Path, tmp_path: Path
) -> None:
    models = ("ce-mlwnet", "mlwnet", "fftformer")
    plot, report_file = tmp_path / "plots" / "bench.png", tmp_path / "results.json"
    result = _invoke(bench, models, "--plot", str(plot), "--output", str(report_file))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "PSNR / SSIM per tile setting (4 images)" in out and "Complexity at 256x256" in out
    dim = f"(dim={get_spec('ce-mlwnet').tiny_config['dim']})"
    for text in ("64/32", "Full", "ce-mlwnet", "fftformer", dim, "bold: best per column"):
        assert text in out
    assert "0 of 6 results from the cache" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
    first = json.loads(report_file.read_text())
    assert first["scored"] == 6 and first["reused"] == 0
    first_files = _cache_files(home)
    assert len(first_files) == 6 and (home / "benchmarks" / HASHES_NAME).exists()

    # Re-run with one more tile setting: only that cell is scored, the rest come from the cache.
    result = _invoke(bench, models, "--tiles", "64/32,full,32/16", "--json")
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert again["scored"] == 3 and again["reused"] == 6
    assert sorted(c["tiles"] for c in again["cells"] if not c["cached"]) == ["32/16"] * 3
    files = _cache_files(home)  # three new cells; the six earlier files were not rewritten
    assert len(files) == 9 and all(files[name] == t for name, t in first_files.items())
    before = {(c["model"], c["tiles"]): c for c in first["cells"]}
    for cell in again["cells"]:
        old = before.get((cell["model"], cell["tiles"]))
        if old is not None:
            assert cell["cached"] and not old["cached"]
            assert (cell["psnr"], cell["ssim"], cell["cache_key"]) == (
                old["psnr"],
                old["ssim"],
                old["cache_key"],
            )

    # A changed protocol option is a different key: everything is scored again.
    result = _invoke(bench, ("mlwnet",), "--ecc-iters", "6", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scored"] == 2


def test_json_schema(bench: dict[str, Path], home: Path) -> None:
    result = _invoke(bench, ("ce-mlwnet", "mlwnet"), "--limit", "3", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {
        "schema", "dataset", "source", "pairs", "limit", "dataset_hash", "protocol", "tiles",
        "precision", "speed", "models", "cells", "cache_dir", "scored", "reused",
    }  # fmt: skip
    assert doc["schema"] == "deblur.benchmark/1" and doc["dataset"] == "realblur-j"
    assert doc["pairs"] == 3 and doc["limit"] == 3 and doc["tiles"] == ["64/32", "full"]
    assert doc["protocol"]["align"] == "ecc" and doc["protocol"]["ecc_iters"] == 5
    assert doc["cache_dir"] == str(home / "benchmarks") and len(doc["dataset_hash"]) == 64

    assert [m["name"] for m in doc["models"]] == ["ce-mlwnet", "mlwnet"]
    for model in doc["models"]:
        assert set(model) == {
            "name", "weights", "weights_path", "weights_sha256", "config", "config_changes",
            "complexity",
        }  # fmt: skip
        tiny = dict(get_spec(model["name"]).tiny_config)
        assert model["config_changes"] == tiny and len(model["weights_sha256"]) == 64
        c = model["complexity"]
        assert c["params"] > 0 and c["macs_torchinfo"] > 0 and c["macs_full"] >= c["macs_torchinfo"]
        assert c["latency_ms"] is None and c["size"] == 256
    assert doc["models"][0]["complexity"]["params"] == sum(
        p.numel() for p in create("ce-mlwnet", **get_spec("ce-mlwnet").tiny_config).parameters()
    )

    assert [(c["model"], c["tiles"]) for c in doc["cells"]] == [
        (m, t) for m in ("ce-mlwnet", "mlwnet") for t in ("64/32", "full")
    ]
    for cell in doc["cells"]:
        assert set(cell) == {
            "model", "tiles", "tile", "overlap", "psnr", "ssim", "count", "ecc_failures",
            "skipped", "inference_seconds", "scored_at", "cached", "cache_key", "cache_path",
            "seconds_per_image", "timed_images",
        }  # fmt: skip
        assert cell["count"] == 3 and 0 < cell["ssim"] <= 1 and cell["psnr"] > 5
        assert cell["seconds_per_image"] is None and cell["cached"] is False
        entry = json.loads(Path(cell["cache_path"]).read_text())
        assert entry["key"] == cell["cache_key"] and len(entry["images"]) == 3
        assert entry["psnr"] == cell["psnr"] and entry["tile"] == cell["tile"]


def test_speed_times_cached_cells(bench: dict[str, Path], home: Path) -> None:
    data = load_realblur(bench["data"])
    options = BenchmarkOptions(
        tiles=parse_tile_settings("full"), weights={"ce-mlwnet": str(bench["ce-mlwnet"])},
        limit=2, ecc_iters=5, device="cpu", workers=0,
    )  # fmt: skip
    plain = run_benchmark(data, ["ce-mlwnet"], options)
    timed = run_benchmark(
        data, ["ce-mlwnet"],
        replace(options, speed=True, latency_iters=2, latency_warmup=0, latency_budget=None),
    )  # fmt: skip
    assert plain.scored == 1 and timed.reused == 1 and timed.speed
    cell = timed.cell("ce-mlwnet", "full")
    assert cell.psnr == plain.cells[0].psnr and cell.timed_images == 2 and cell.seconds_per_image > 0
    assert timed.models[0].complexity.latency_ms.runs == 2


def test_tile_not_a_multiple_of_the_size_multiple_fails_before_scoring(
    bench: dict[str, Path], home: Path
) -> None:
    result = _invoke(bench, ("ce-mlwnet",), "--tiles", "72/36")
    assert result.exit_code == 1
    assert "72 is not a multiple of ce-mlwnet's size multiple" in result.stderr
    assert not (home / "benchmarks").exists()


def test_plot_written_with_matplotlib(bench: dict[str, Path], home: Path, tmp_path: Path) -> None:
    data = load_realblur(bench["data"])
    options = BenchmarkOptions(
        tiles=parse_tile_settings("64/32,full"), ecc_iters=5, device="cpu", workers=0, limit=2,
        weights={n: str(bench[n]) for n in ("ce-mlwnet", "mlwnet")},
    )  # fmt: skip
    report = run_benchmark(data, ["ce-mlwnet", "mlwnet"], options)
    points = plot_points(report)
    assert [p.model for p in points] == ["ce-mlwnet", "mlwnet"]
    for p in points:
        assert p.psnr == report.best_cell(p.model).psnr and p.gmacs > 0 and p.latency_ms is None
    svg = plot_benchmark(report, tmp_path / "fig.svg")
    assert b"<svg" in svg.read_bytes()[:500]
    with pytest.raises(PlotError, match="unsupported plot format"):
        plot_benchmark(report, tmp_path / "fig.xyz")
    assert not list(tmp_path.glob(".fig*.tmp"))


def test_plot_without_matplotlib_says_how_to_install(
    bench: dict[str, Path], home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    result = _invoke(bench, ("ce-mlwnet",), "--plot", str(tmp_path / "p.png"))
    assert result.exit_code == 1
    assert "pip install 'deblur-cli[plot]'" in result.stderr
    assert not (tmp_path / "p.png").exists() and not (home / "benchmarks").exists()


@pytest.mark.parametrize(
    "args",
    [["--iters", "0"], ["--warmup", "-1"], ["--time-budget", "-1"], ["--ecc-iters", "0"],
     ["--limit", "0"], ["--workers", "-1"], ["--precision", "fp8"], ["--device", "tpu"],
     ["--align", "sideways"]],
)  # fmt: skip
def test_benchmark_bad_options_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(app, ["benchmark", "-m", "mlwnet", "--root", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a usage message, not a traceback
    assert args[0] in result.output


@pytest.mark.parametrize(
    "field, value",
    [("limit", 0), ("ecc_iters", 0), ("latency_iters", 0), ("latency_warmup", -1),
     ("workers", -1), ("latency_budget", 0.0), ("precision", "fp8"), ("tiles", ())],
)  # fmt: skip
def test_benchmark_options_refuse_values_out_of_range(field: str, value: object) -> None:
    with pytest.raises(BenchmarkError):
        BenchmarkOptions(**{field: value})  # type: ignore[arg-type]


def test_alignment_with_another_ssim_is_one_line_error(bench: dict[str, Path], home: Path) -> None:
    result = _invoke(bench, ("mlwnet",), "--align", "ecc", "--ssim", "ssim3d")
    assert result.exit_code == 1
    assert "realblur" in result.stderr and "Traceback" not in result.output
    assert not (home / "benchmarks").exists()
