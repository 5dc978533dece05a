"""`deblur evaluate` through the CLI on fake datasets in the official layouts (datasets.md §6),
with small real checkpoints: official per-image numbers from a predictions folder, model mode
agreeing with its saved PNGs, resume after an interruption, bad inputs."""

from __future__ import annotations

import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers.datasets import (
    make_gopro,
    make_realblur,
    official_list_bytes,
    shifted,
    smooth_image,
    write_predictions,
    write_rgb,
)
from helpers.metrics import official_realblur
from typer.testing import CliRunner

from deblur_cli.cli.app import app
from deblur_cli.datasets import REALBLUR_FOLDERS, Dataset, load_gopro, load_realblur, read_rgb
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
            written[pair.name].astype(np.float32) / 255,
            read_rgb(pair.sharp).astype(np.float32) / 255,
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
    assert (out / "metrics.csv").is_file() and model_run["results_path"] == str(
        out / "results.jsonl"
    )
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
    # running it again without --resume must not wipe what the killed run left
    left = results.read_bytes()
    again = _model(data, ckpt, "--workers", "0", *FAST, "--results", results)
    assert again.exit_code == 1 and "--resume" in again.stderr and "--overwrite" in again.stderr
    assert results.read_bytes() == left

    calls.clear()
    resumed = _model(
        data, ckpt, "--workers", "1", *FAST, "--results", results, "--resume", "--json"
    )
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


def _predictions_run(tmp_path: Path, realblur: Dataset, *extra: str | Path):
    preds = tmp_path / "preds"
    if not preds.is_dir():
        write_predictions(realblur.pairs, preds)
    return _invoke("-d", "realblur-j", "--root", "data", "-p", preds, *FAST, *extra)


def test_rerun_never_loses_results(realblur: Dataset, tmp_path: Path) -> None:
    first = _predictions_run(tmp_path, realblur, "--workers", "0", "--results", "run.jsonl")
    assert first.exit_code == 0, first.output
    earlier = (tmp_path / "run.jsonl").read_bytes()

    again = _predictions_run(tmp_path, realblur, "--workers", "0", "--results", "run.jsonl")
    lines = again.stderr.strip().splitlines()
    assert again.exit_code == 1 and len(lines) == 1, again.stderr
    assert lines[0].startswith("error: run.jsonl: holds 4 image scores of an earlier run")
    assert "--resume" in lines[0] and "--overwrite" in lines[0]
    assert (tmp_path / "run.jsonl").read_bytes() == earlier

    both = _predictions_run(tmp_path, realblur, "--results", "run.jsonl", "--resume", "--overwrite")
    assert both.exit_code == 1 and "exclude each other" in both.stderr

    fresh = _predictions_run(tmp_path, realblur, "--workers", "0", "--results", "run.jsonl",
                             "--overwrite")  # fmt: skip
    assert fresh.exit_code == 0, fresh.output
    kept = list(tmp_path.glob("run.jsonl.*.bak"))
    assert len(kept) == 1 and kept[0].read_bytes() == earlier
    assert f"kept as {kept[0].name}" in fresh.stderr
    assert len(read_results(tmp_path / "run.jsonl")[1]) == 4


def test_unreadable_results_file_is_an_error(realblur: Dataset, tmp_path: Path) -> None:
    binary = tmp_path / "binary.jsonl"
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # e.g. an image named by mistake
    binary.write_bytes(content)
    resumed = _predictions_run(tmp_path, realblur, "--results", binary, "--resume")
    lines = resumed.stderr.strip().splitlines()
    assert resumed.exit_code == 1 and len(lines) == 1, resumed.stderr
    assert lines[0].startswith(f"error: {binary}:1: not a results line")
    fresh = _predictions_run(tmp_path, realblur, "--results", binary)
    assert fresh.exit_code == 1 and "is not a results file" in fresh.stderr
    assert "--overwrite" in fresh.stderr and binary.read_bytes() == content


def test_workers_are_capped_by_images_and_cores(realblur: Dataset, tmp_path: Path) -> None:
    result = _predictions_run(tmp_path, realblur, "--workers", "64", "--json")
    assert result.exit_code == 0, result.output
    used = min(len(realblur.pairs), os.cpu_count() or 1)
    assert json.loads(result.stdout)["workers"] == used
    assert f"note: {used} scoring processes instead of 64" in result.stderr


def test_save_dir_inside_root_is_refused(realblur: Dataset, tmp_path: Path) -> None:
    # the pairs live in data/RealBlur-J_.../, but --root is data: data/out is inside it
    inside = _predictions_run(tmp_path, realblur, "--save-dir", tmp_path / "data" / "out")
    lines = inside.stderr.strip().splitlines()
    assert inside.exit_code == 1 and len(lines) == 1
    assert "inside the dataset tree" in lines[0] and not (tmp_path / "data" / "out").exists()


def _slow_realblur(root: Path, preds: Path, count: int) -> None:
    """`count` RealBlur-J pairs (copies of one image pair) and their predictions."""
    folder = REALBLUR_FOLDERS["realblur-j"]
    gt = smooth_image(96, 128, 1)
    pngs = {}
    for kind, image in (
        ("gt", gt),
        ("blur", shifted(gt, 1.5, -1, 1)),
        ("pred", shifted(gt, 0.6, -0.4)),
    ):
        pngs[kind] = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))[1].tobytes()
    lines = []
    for i in range(1, count + 1):
        scene = f"scene{i:03d}"
        for kind in ("gt", "blur"):
            path = root / folder / scene / kind / f"{kind}_1.png"
            path.parent.mkdir(parents=True)
            path.write_bytes(pngs[kind])
        preds.mkdir(exist_ok=True)
        (preds / f"{scene}_1.png").write_bytes(pngs["pred"])
        lines.append(f"{folder}/{scene}/gt/gt_1.png {folder}/{scene}/blur/blur_1.png")
    (root / "RealBlur_J_test_list.txt").write_bytes(official_list_bytes(lines))


def _as_from_a_shell() -> None:
    """In the child before exec: SIGINT handled by default and not blocked, as an interactive
    shell starts a command. Both are inherited through exec, and in a long pytest session the
    parent's may have been left otherwise (the run then finished as if no Ctrl-C came)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _record_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") - 1 if path.is_file() else 0


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_prints_the_command_that_resumes(tmp_path: Path) -> None:
    """A real Ctrl-C: SIGINT to the whole process group (parent and scoring workers), as a
    terminal sends it, while the workers are busy. Enough pairs that the run cannot finish in
    the moment between the first record and the signal, even on a loaded machine."""
    count = 40
    _slow_realblur(tmp_path / "data", tmp_path / "preds", count)
    results = tmp_path / "run.jsonl"
    command = [sys.executable, "-m", "deblur_cli", "evaluate", "-d", "realblur-j", "--root", "data",
               "-p", "preds", "--ecc-iters", "300", "--workers", "2", "--results", str(results)]  # fmt: skip
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=_as_from_a_shell)  # fmt: skip
    deadline = time.monotonic() + 300
    while _record_lines(results) < 1 and time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)

    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: ") and f"kept in {results}" in last, stderr
    words = shlex.split(last.split("; go on with: ", 1)[1])
    assert words[-2:] == ["--results", str(results), "--resume"][-2:]
    assert words[words.index("--ecc-iters") + 1] == "300" and "--overwrite" not in words
    scored = _record_lines(results)
    assert 1 <= scored < count

    # the printed command goes on where the run stopped
    program = words.index("evaluate")
    done = subprocess.run([sys.executable, "-m", "deblur_cli", *words[program:], "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["resumed"] == scored and report["count"] == count
