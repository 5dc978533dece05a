"""`deblur train` through the CLI: --max-steps then --resume equals one run, an existing run is
never overwritten silently, best.pt works with `deblur restore` and `deblur weights import`,
synthetic training and its preview, Ctrl-C, and a 2-process torchrun (gloo) run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers.training import TINY, make_photos, make_realblur_j
from typer.testing import CliRunner

from deblur_cli.cli.app import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def _sets(*extra: str) -> list[str]:
    args = []
    for item in (*TINY, *extra):
        args += ["--set", item]
    return args


def _train(
    root: Path, out: Path, *args: str, sets: tuple[str, ...] = ("data.val_fraction=0",)
) -> list[str]:
    return ["train", "-r", "ce-mlwnet-seed", "--root", str(root), "--out", str(out), "--device", "cpu",
            "--threads", "1", *_sets(*sets), *args]  # fmt: skip


def _weights(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, weights_only=True)
    out = {f"model.{k}": v for k, v in state["model"].items()}
    for pid, slots in state["optimizer"]["state"].items():
        out.update({f"opt.{pid}.{k}": v for k, v in slots.items()})
    return out


def test_max_steps_then_resume_equals_one_run(tmp_path: Path) -> None:
    root = make_realblur_j(tmp_path / "rb")
    one = runner.invoke(app, _train(root, tmp_path / "one", "--max-steps", "4", "--json"))
    assert one.exit_code == 0, one.output
    first = runner.invoke(app, _train(root, tmp_path / "two", "--max-steps", "2"))
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, _train(root, tmp_path / "two", "--max-steps", "3"))
    assert again.exit_code == 1 and "--resume" in again.stderr and "--overwrite" in again.stderr
    second = runner.invoke(
        app, _train(root, tmp_path / "two", "--max-steps", "4", "--resume", "--json")
    )
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert (report["start_step"], report["step"], report["total_steps"]) == (2, 4, 611_000)
    a, b = _weights(tmp_path / "one" / "last.pt"), _weights(tmp_path / "two" / "last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads(one.stdout)["final_losses"] == report["final_losses"]
    # the run's own recipe.toml is used when --recipe is left out; a changed recipe is refused
    cont = runner.invoke(app, ["train", "--out", str(tmp_path / "two"), "--resume", "--max-steps", "5",
                               "--device", "cpu", "--threads", "1"])  # fmt: skip
    assert cont.exit_code == 0, cont.output
    changed = runner.invoke(
        app,
        _train(root, tmp_path / "two", "--resume", sets=("data.val_fraction=0", "train.steps=99")),
    )
    assert changed.exit_code == 1 and "differs from the run's in train.steps" in changed.stderr


def test_best_pt_restores_and_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.weights import use_home

    root = make_realblur_j(tmp_path / "rb")
    run = runner.invoke(app, _train(root, tmp_path / "run", "--max-steps", "1",
                                    sets=("train.val_every=1", "data.val_fraction=0.3")))  # fmt: skip
    assert run.exit_code == 0, run.output
    assert "validation PSNR" in run.stderr and "best PSNR" in run.stdout
    best = tmp_path / "run" / "best.pt"
    image = next((root).rglob("blur_1.png"))
    restored = runner.invoke(app, ["restore", str(image), "--weights", str(best), "--device", "cpu",
                                   "-o", str(tmp_path / "restored"), "--json"])  # fmt: skip
    assert restored.exit_code == 0, restored.output
    assert (tmp_path / "restored" / "blur_1_deblurred.png").is_file()
    use_home(tmp_path, monkeypatch)
    imported = runner.invoke(app, ["weights", "import", str(best), "--name", "mine.tiny"])
    assert imported.exit_code == 0, imported.output
    listed = runner.invoke(app, ["weights", "list", "--json"])
    assert "mine.tiny" in listed.stdout


def test_synthetic_training_and_preview(tmp_path: Path) -> None:
    photos = make_photos(tmp_path / "photos", n=5)
    args = ["train", "-r", "ce-mlwnet-seed", "--root", str(photos), "--out", str(tmp_path / "run"),
            "--device", "cpu", "--threads", "1", "--max-steps", "2", "--json",
            *_sets("data.dataset=synthetic", "data.synthetic.kernel_size=9", "data.val_fraction=0.2",
                   "train.val_every=2", "data.val_crop=32", "data.scale=[0.5, 1.0]")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (
        report["last_validation"]["protocol"] == "psnr" and report["last_validation"]["images"] == 1
    )
    sheet = tmp_path / "sheet.png"
    preview = runner.invoke(app, ["train", "synth-preview", str(photos), "-o", str(sheet), "--n", "3",
                                  "--crop", "32", "--set", "data.synthetic.kernel_size=9"])  # fmt: skip
    assert preview.exit_code == 0, preview.output
    from deblur_cli.files import read_image

    image, _ = read_image(sheet)
    assert image.shape == (3 * 32 + 4 * 4, 3 * 32 + 4 * 4, 3)


@pytest.mark.slow
def test_ctrl_c_saves_and_prints_the_resume_command(tmp_path: Path) -> None:
    root = make_realblur_j(tmp_path / "rb")
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "deblur_cli",
        *_train(root, out, sets=("data.val_fraction=0", "train.steps=500")),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    log = out / "log.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and (not log.is_file() or log.read_text().count("\n") < 3):
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if "interrupted at step" in line]
    assert len(lines) == 1 and lines[0].count("--resume") == 1 and f"--out {out}" in lines[0]
    step = torch.load(out / "last.pt", weights_only=True)["step"]
    assert f"interrupted at step {step}" in lines[0]


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path: Path) -> None:
    root = make_realblur_j(tmp_path / "rb")
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "deblur_cli", "train", "-r", "ce-mlwnet-seed", "--root", str(root), "--out", str(out),
           "--device", "cpu", "--threads", "1", "--max-steps", "3", "--json",
           "--set", "model.dim=8", "--set", "data.crop=32", "--set", "data.batch=2",
           "--set", "data.workers=0", "--set", "data.val_fraction=0.3", "--set", "train.val_every=3"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)  # rank 0 alone prints
    assert report["world_size"] == 2 and report["global_batch"] == 8 and report["step"] == 3
    assert "2 per device × 2 device(s) × 2 accumulated" in done.stderr
    from deblur_cli.checkpoints import load_model

    loaded = load_model(out / "best.pt")
    assert loaded.name == "ce-mlwnet" and loaded.config["dim"] == 8
    assert torch.load(out / "last.pt", weights_only=True)["world_size"] == 2
