"""`deblur restore` end to end through the CLI, with small real checkpoints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from deblur_cli.cli.app import app
from deblur_cli.cli.options import TILE_HELP
from deblur_cli.models import create, get_spec, list_models

runner = CliRunner()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A small CE-MLWNet checkpoint in the seed's container (aux-head keys included)."""
    torch.manual_seed(0)
    model = create("ce-mlwnet", dim=4, aux_heads=True)
    path = tmp_path_factory.mktemp("w") / "small_ce.pth"
    torch.save({"epoch": 3, "params": model.state_dict()}, path)
    return path


def _jpeg(path: Path, h: int = 40, w: int = 56, seed: int = 0) -> Path:
    img = (np.random.RandomState(seed).rand(h, w, 3) * 255).astype(np.uint8)
    cv2.imwrite(str(path), img)
    return path


def _invoke(*args: str):
    return runner.invoke(app, ["restore", *args])


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_single_file_to_exact_output(tmp_path: Path, ckpt: Path) -> None:
    src = _jpeg(tmp_path / "a.jpg")
    out = tmp_path / "out" / "restored.png"
    result = _invoke(str(src), "-o", str(out), "--weights", str(ckpt), "--device", "cpu")
    assert result.exit_code == 0, result.output
    img = cv2.imread(str(out))
    assert img.shape == (40, 56, 3)
    assert "images restored" in result.stdout and "seconds per image" in result.stdout


def test_folder_glob_and_naming(tmp_path: Path, ckpt: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    _jpeg(tmp_path / "in" / "x.jpg")
    _jpeg(tmp_path / "in" / "sub" / "y.png")
    out = tmp_path / "out"
    result = _invoke(str(tmp_path / "in"), "-r", "-o", str(out), "--weights", str(ckpt), "--json")
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    assert {Path(r["output"]).name for r in rows} == {"x_deblurred.jpg", "y_deblurred.png"}
    assert all(r["status"] == "ok" and r["megapixels"] > 0 for r in rows)
    result = _invoke(str(tmp_path / "in" / "*.jpg"), "-o", str(out), "--weights", str(ckpt),
                     "--json", "--suffix", "_s", "--ext", "png")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "x_s.png").is_file()


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path: Path, ckpt: Path) -> None:
    src = _jpeg(tmp_path / "a.jpg")
    args = [str(src), "--weights", str(ckpt), "--json"]
    assert _invoke(*args).exit_code == 0
    target = tmp_path / "a_deblurred.jpg"
    before = target.stat().st_mtime_ns
    rows = _json_lines(_invoke(*args).stdout)
    assert rows[0]["status"] == "skipped" and target.stat().st_mtime_ns == before
    rows = _json_lines(_invoke(*args, "--overwrite").stdout)
    assert rows[0]["status"] == "ok"


def test_gif_and_compare_outputs(tmp_path: Path, ckpt: Path) -> None:
    src = _jpeg(tmp_path / "a.jpg", 48, 64)
    result = _invoke(str(src), "--weights", str(ckpt), "--gif", "--gif-label", "ce", "--compare",
                     "side-by-side", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    row = _json_lines(result.stdout)[0]
    frames = iio.imread(row["gif"], index=None)
    assert frames.shape[0] == 2 and frames.shape[1:3] == (48, 64)
    compare = cv2.imread(row["compare"])
    assert compare.shape[0] == 48 and compare.shape[1] >= 128


def test_sixteen_bit_png_and_alpha_survive(tmp_path: Path, ckpt: Path) -> None:
    rgba = (np.random.RandomState(1).rand(32, 48, 4) * 65535).astype(np.uint16)
    src = tmp_path / "deep.png"
    cv2.imwrite(str(src), rgba)
    result = _invoke(str(src), "--weights", str(ckpt), "--json")
    assert result.exit_code == 0, result.output
    out = cv2.imread(str(tmp_path / "deep_deblurred.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (32, 48, 4)
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])


def test_bad_inputs_fail_alone_with_one_line_errors(tmp_path: Path, ckpt: Path) -> None:
    good = _jpeg(tmp_path / "good.jpg")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "notes.txt").write_text("hello")
    missing = tmp_path / "missing.png"
    result = _invoke(str(tmp_path / "empty.png"), str(tmp_path / "corrupt.jpg"),
                     str(tmp_path / "notes.txt"), str(missing), str(good),
                     "--weights", str(ckpt), "--json")  # fmt: skip
    assert result.exit_code == 1
    rows = {Path(r["source"]).name: r for r in _json_lines(result.stdout)}
    assert rows["good.jpg"]["status"] == "ok"
    for name in ("empty.png", "corrupt.jpg", "notes.txt", "missing.png"):
        assert rows[name]["status"] == "failed"
        assert name in rows[name]["error"] and "\n" not in rows[name]["error"]
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["corrupt.jpg", "empty.png", "good.jpg", "good_deblurred.jpg", "notes.txt"]


def test_directory_without_images_is_an_error(tmp_path: Path, ckpt: Path) -> None:
    (tmp_path / "empty_dir").mkdir()
    result = _invoke(str(tmp_path / "empty_dir"), "--weights", str(ckpt))
    assert result.exit_code == 1
    assert "no images in this directory" in result.output


def test_unwritable_output_path_is_a_file(tmp_path: Path, ckpt: Path) -> None:
    src = _jpeg(tmp_path / "a.jpg")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    result = _invoke(str(src), "-o", str(blocker / "sub"), "--weights", str(ckpt), "--json")
    assert result.exit_code == 1
    row = _json_lines(result.stdout)[0]
    assert row["status"] == "failed" and "blocker" in row["error"]


def test_missing_weights_offline_names_the_fetch_command(tmp_path: Path, monkeypatch) -> None:
    registry = tmp_path / "reg.toml"
    text = (Path(__file__).resolve().parents[1] / "deblur_cli" / "data" / "weights.toml").read_text()
    # Point every entry at a closed local port: the same path as being offline.
    text = re.sub(r'source = "[^"]*"', 'source = "http://127.0.0.1:9/none.pth"', text)
    registry.write_text(text)
    monkeypatch.setenv("DEBLUR_WEIGHTS_REGISTRY", str(registry))
    monkeypatch.setenv("DEBLUR_HOME", str(tmp_path / "home"))
    src = _jpeg(tmp_path / "a.jpg")
    result = _invoke(str(src), "--model", "ce-mlwnet")
    assert result.exit_code == 1
    assert "deblur weights download ce-mlwnet.seed-realblur-j" in result.output
    assert not (tmp_path / "a_deblurred.jpg").exists()


def test_model_and_weights_must_agree(tmp_path: Path, ckpt: Path) -> None:
    src = _jpeg(tmp_path / "a.jpg")
    result = _invoke(str(src), "--model", "fftformer", "--weights", str(ckpt))
    assert result.exit_code == 1
    assert not (tmp_path / "a_deblurred.jpg").exists()


def test_tiny_and_odd_sizes(tmp_path: Path, ckpt: Path) -> None:
    for h, w in [(16, 16), (7, 5), (33, 130)]:
        src = _jpeg(tmp_path / f"i{h}x{w}.png", h, w)
        result = _invoke(str(src), "--weights", str(ckpt), "--tile", "32", "--overlap", "8")
        assert result.exit_code == 0, result.output
        assert cv2.imread(str(tmp_path / f"i{h}x{w}_deblurred.png")).shape[:2] == (h, w)


def test_help_states_the_registry_defaults() -> None:
    for name in list_models():
        spec = get_spec(name)
        assert f"{spec.default_tile}/{spec.default_overlap}" in TILE_HELP
        assert name in TILE_HELP
