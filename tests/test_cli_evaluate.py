"""`deblur evaluate` through the CLI on fake datasets in the official layouts (datasets.md §6),
with small real checkpoints: official per-image numbers from a predictions folder, model mode
agreeing with its saved PNGs, resume after an interruption, bad inputs."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.datasets import (
    make_gopro,
    make_realblur,
    official_list_bytes,
    smooth_image,
    write_predictions,
    write_rgb,
)
from helpers.metrics import official_realblur
from typer.testing import CliRunner

from deblur_cli.cli.app import app
from deblur_cli.datasets import Dataset, load_gopro, load_realblur, read_rgb
from deblur_cli.evaluation import read_results
from deblur_cli.inference import Restorer
from deblur_cli.models import create

runner = CliRunner()
FAST = ["--ecc-iters", "10"]  # where the test is not about the official 100 iterations


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Default results files land in the current folder: keep them in tmp_path. One torch
    thread, because the scoring workers (and other jobs on a 2-core box) share the CPU and
    oversubscribed OpenMP threads slow the tiny model down a hundredfold."""
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "small_ce.pth"
    torch.save({"params": create("ce-mlwnet", dim=4).state_dict()}, path)
    return path


@pytest.fixture()
def realblur(tmp_path: Path) -> Dataset:
    make_realblur(tmp_path / "data", n=2)  # 4 pairs, 70x64 and 64x80
    return load_realblur(tmp_path / "data", "realblur-j", "test")


def _invoke(*args: str | Path):
    return runner.invoke(app, ["evaluate", *map(str, args)])


def _model(root: Path, ckpt: Path, *extra: str | Path):
    return _invoke("--dataset", "realblur-j", "--root", root, "--weights", ckpt, "--device", "cpu",
                   "--tile", "0", *extra)  # fmt: skip


def test_predictions_reproduce_official_script(realblur: Dataset, tmp_path: Path) -> None:
    preds = tmp_path / "preds"
    written = write_predictions(realblur.pairs, preds)
    result = _invoke("--dataset", "realblur-j", "--root", "data", "--predictions", preds, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    assert report["dataset"] == "realblur-j" and report["count"] == 4
    assert report["protocol"]["ecc_iters"] == 100 and report["protocol"]["align"] == "ecc"
    assert {"opencv", "scikit-image"} <= report["protocol"]["libraries"].keys()
    assert report["ecc_failures"] == 0 and report["skipped"] == [] and report["model"] is None
    assert report["seconds"]["inference"] is None and report["seconds"]["alignment"] > 0
    # per image: the official script's numbers on the PNG (read as it reads them) and the GT
    for image, pair in zip(report["images"], realblur.pairs):
        assert image["name"] == pair.name
        assert {"psnr", "ssim", "ecc_ok", "gain", "warp"} <= image.keys()
        want_psnr, want_ssim = official_realblur(
            written[pair.name].astype(np.float32) / 255, read_rgb(pair.sharp).astype(np.float32) / 255
        )
        assert image["psnr"] == pytest.approx(want_psnr, abs=1e-9)
        assert image["ssim"] == pytest.approx(want_ssim, abs=1e-12)
        assert image["ecc_ok"] is True and len(image["warp"]) == 9
    assert report["mean"]["psnr"] == pytest.approx(np.mean([i["psnr"] for i in report["images"]]))
    # with no --output/--save-dir the per-image results go to a per-run file here
    assert report["results_path"] == "deblur-eval_realblur-j_preds.jsonl"
    assert len(read_results(tmp_path / report["results_path"])[1]) == 4

    table = _invoke("--dataset", "realblur-j", "--root", "data", "-p", preds, *FAST, "--limit", "2",
                    "--results", "limited.jsonl")  # fmt: skip
    assert table.exit_code == 0, table.output
    for label in ("images", "mean PSNR", "mean SSIM", "ECC failures", "skipped pairs",
                  "seconds: inference", "seconds: alignment", "seconds: metrics"):  # fmt: skip
        assert label in table.stdout
    assert len(read_results(tmp_path / "limited.jsonl")[1]) == 2  # --limit 2


def test_model_mode_agrees_with_its_saved_predictions(
    realblur: Dataset, tmp_path: Path, ckpt: Path
) -> None:
    out = tmp_path / "out"
    result = _model(tmp_path / "data", ckpt, "--save-dir", out, "--workers", "2", *FAST, "--json")
    assert result.exit_code == 0, result.output
    model_run = json.loads(result.stdout)
    assert model_run["model"]["model"] == "ce-mlwnet" and model_run["model"]["restored"] == 4
    assert model_run["model"]["tile"] == 0 and model_run["workers"] == min(2, os.cpu_count() or 1)
    assert model_run["seconds"]["inference"] > 0
    # official names, the CSV and the results file in --save-dir; nothing in the dataset tree
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for p in realblur.pairs)
    assert (out / "metrics.csv").is_file() and model_run["results_path"] == str(out / "results.jsonl")
    assert not list((tmp_path / "data").rglob("*pred*"))

    scored = _invoke("--dataset", "realblur-j", "--root", tmp_path / "data", "-p", out, *FAST,
                     "--workers", "0", "--json")  # fmt: skip
    assert scored.exit_code == 0, scored.output
    again = json.loads(scored.stdout)
    assert [(i["name"], i["psnr"], i["ssim"]) for i in again["images"]] == [
        (i["name"], i["psnr"], i["ssim"]) for i in model_run["images"]
    ]
    assert again["mean"] == model_run["mean"]

    inside = _model(tmp_path / "data", ckpt, "--save-dir", realblur.pairs[0].sharp.parent / "x")
    assert inside.exit_code == 1 and "inside the dataset tree" in inside.stderr


def test_resume_after_interruption_gives_the_same_means(
    realblur: Dataset, tmp_path: Path, ckpt: Path, monkeypatch
) -> None:
    data = tmp_path / "data"
    full = _model(data, ckpt, "--workers", "0", *FAST, "--json", "--output", tmp_path / "full.json")
    assert full.exit_code == 0, full.output
    full_report = json.loads(full.stdout)
    assert json.loads((tmp_path / "full.json").read_text()) == full_report
    assert (tmp_path / "full.jsonl").is_file()  # beside --output

    restore, calls = Restorer.restore, []

    def dying(self, image, **kwargs):
        calls.append(image.shape)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user presses Ctrl-C during the third image
        return restore(self, image, **kwargs)

    monkeypatch.setattr(Restorer, "restore", dying)
    results = tmp_path / "run.jsonl"
    killed = _model(data, ckpt, "--workers", "0", *FAST, "--results", results)
    assert killed.exit_code == 130 and "--resume" in killed.stderr
    assert len(read_results(results)[1]) == 2

    calls.clear()
    resumed = _model(data, ckpt, "--workers", "1", *FAST, "--results", results, "--resume", "--json")
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.stdout)
    assert len(calls) == 2  # only the images not yet scored are restored
    assert report["resumed"] == 2 and report["count"] == 4
    assert report["mean"] == full_report["mean"]

    other = _model(data, ckpt, "--workers", "0", *FAST, "--results", results, "--resume", "--tta")
    assert other.exit_code == 1 and "different prediction source" in other.stderr


def _broken_realblur(root: Path) -> list[str]:
    """Six good pairs plus a 3-token line, a missing file and a GT/blur size mismatch."""
    lines = make_realblur(root, n=3)
    folder = lines[0].split("/")[0]
    scene = root / folder / "scene001"
    write_rgb(scene / "gt" / "gt_4.png", smooth_image(70, 64, 4))
    write_rgb(scene / "blur" / "blur_4.png", smooth_image(70, 60, 4))
    lines += [
        f"{folder}/scene001/gt/gt_1.png {folder}/scene001/blur/blur_1.png extra",
        f"{folder}/scene001/gt/gt_9.png {folder}/scene001/blur/blur_9.png",
        f"{folder}/scene001/gt/gt_4.png {folder}/scene001/blur/blur_4.png",
    ]
    (root / "RealBlur_J_test_list.txt").write_bytes(official_list_bytes(lines))
    return lines


def test_bad_inputs_are_one_line_errors_and_the_rest_is_scored(tmp_path: Path) -> None:
    _broken_realblur(tmp_path / "data")
    ds = load_realblur(tmp_path / "data", "realblur-j", "test")
    assert len(ds.pairs) == 6 and len(ds.skipped) == 3
    preds = tmp_path / "preds"
    write_predictions(ds.pairs, preds)
    (preds / ds.pairs[0].name).unlink()  # missing
    (preds / ds.pairs[1].name).write_bytes(b"\x89PNG not really")  # unreadable
    h, w = ds.pairs[2].size
    write_rgb(preds / ds.pairs[2].name, np.zeros((h - 1, w, 3), np.uint8))  # wrong size

    result = _invoke("-d", "realblur-j", "--root", tmp_path / "data", "-p", preds, *FAST,
                     "--workers", "0", "--json")  # fmt: skip
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["count"] == 3 and len(report["skipped"]) == 6
    assert report["missing"] == [ds.pairs[0].name]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 6
    list_file = tmp_path / "data" / "RealBlur_J_test_list.txt"
    assert any(f"{list_file}:7:" in e and "3" in e for e in errors)  # token count, line 7
    assert any(f"{list_file}:8:" in e and "gt_9.png" in e for e in errors)  # missing file
    assert any(f"{list_file}:9:" in e and "size mismatch" in e for e in errors)
    assert any(f"{preds / ds.pairs[0].name}: missing prediction" in e for e in errors)
    assert any(f"{preds / ds.pairs[1].name}: " in e for e in errors)  # unreadable, one line
    assert any("prediction is" in e and f"is {h}x{w}" in e for e in errors)


def test_gopro_predictions_and_fatal_errors(tmp_path: Path, ckpt: Path) -> None:
    make_gopro(tmp_path / "GOPRO_Large")
    ds = load_gopro(tmp_path / "GOPRO_Large", "test")
    preds = tmp_path / "preds"
    write_predictions(ds.pairs, preds)  # <sequence>/<frame>.png
    result = _invoke("-d", "gopro", "--root", tmp_path / "GOPRO_Large", "-p", preds, "--workers",
                     "0", "--json", "--output", tmp_path / "res" / "gopro.json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["count"] == 4 and report["protocol"]["align"] == "none"
    assert report["protocol"]["ssim"] == "ssim3d" and report["images"][0]["ecc_ok"] is None
    assert report["results_path"] == str(tmp_path / "res" / "gopro.jsonl")
    assert math.isfinite(report["mean"]["psnr"])

    root = tmp_path / "GOPRO_Large"
    cases = [
        (["-d", "realblur-j", "--root", tmp_path / "nowhere", "-p", preds], "no such file"),
        (["-d", "gopro", "--root", root], "--predictions"),
        (["-d", "gopro", "--root", root, "-p", preds, "-w", ckpt], "drop the model options"),
        (["-d", "gopro", "--root", root, "-p", preds, "--align", "ecc", "--ssim", "ssim3d"], "ECC"),
        (["-d", "gopro", "--root", root, "-p", tmp_path / "nope"], "predictions folder not found"),
        (["-d", "gopro", "--root", root, "-p", tmp_path / "res"], "no image could be scored"),
    ]
    (tmp_path / "empty.txt").write_text("\n")
    cases.append((["-d", "gopro", "--root", root, "--list", tmp_path / "empty.txt", "-p", preds],
                  "empty.txt"))  # fmt: skip
    for args, message in cases:
        bad = _invoke(*args, "--workers", "0")
        lines = bad.stderr.strip().splitlines()
        assert bad.exit_code == 1 and message in lines[-1] and lines[-1].startswith("error:"), (
            args, bad.stderr,
        )  # fmt: skip
