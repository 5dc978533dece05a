"""`deblur restore` end to end through the CLI, with small real checkpoints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
from helpers.images import png_header_only, tiff_bytes
from helpers.restore import tiny_checkpoint, write_noise
from typer.testing import CliRunner

from deblur_cli.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CE-MLWNet checkpoint in the seed's container (aux-head keys included)."""
    return tiny_checkpoint(tmp_path_factory.mktemp("w") / "small_ce.pth", "ce-mlwnet", aux_heads=True)


@pytest.fixture(scope="module")
def mlwnet_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("w") / "small_mlwnet.pth", "mlwnet")


def _invoke(*args: str):
    return runner.invoke(app, ["restore", *args])


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_single_file_to_exact_output(tmp_path: Path, ckpt: Path) -> None:
    src = write_noise(tmp_path / "a.jpg")
    out = tmp_path / "out" / "restored.png"
    result = _invoke(str(src), "-o", str(out), "--weights", str(ckpt), "--device", "cpu")
    assert result.exit_code == 0, result.output
    img = cv2.imread(str(out))
    assert img.shape == (40, 56, 3)
    assert "images restored" in result.stdout and "seconds per image" in result.stdout


def test_folder_glob_and_naming(tmp_path: Path, ckpt: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    write_noise(tmp_path / "in" / "x.jpg")
    write_noise(tmp_path / "in" / "sub" / "y.png")
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
    src = write_noise(tmp_path / "a.jpg")
    args = [str(src), "--weights", str(ckpt), "--json"]
    assert _invoke(*args).exit_code == 0
    target = tmp_path / "a_deblurred.jpg"
    before = target.stat().st_mtime_ns
    rows = _json_lines(_invoke(*args).stdout)
    assert rows[0]["status"] == "skipped" and target.stat().st_mtime_ns == before
    rows = _json_lines(_invoke(*args, "--overwrite").stdout)
    assert rows[0]["status"] == "ok"


def test_gif_and_compare_outputs(tmp_path: Path, ckpt: Path) -> None:
    src = write_noise(tmp_path / "a.jpg", 48, 64)
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


def test_bad_inputs_fail_alone_with_one_line_errors(
    tmp_path: Path, ckpt: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    good = write_noise(tmp_path / "good.jpg")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "notes.txt").write_text("hello")
    # a header declaring 100000x100000: OpenCV raises instead of returning None
    (tmp_path / "huge.png").write_bytes(png_header_only(100_000, 100_000))
    # no pixel data: libpng prints "libpng error: ..." straight to file descriptor 2
    (tmp_path / "hollow.png").write_bytes(png_header_only(64, 64))
    (tmp_path / "five.tif").write_bytes(tiff_bytes(np.zeros((8, 8, 5), np.uint8)))
    missing = tmp_path / "missing.png"
    bad = ["empty.png", "corrupt.jpg", "notes.txt", "huge.png", "hollow.png", "five.tif"]
    result = _invoke(*[str(tmp_path / name) for name in bad], str(missing), str(good),
                     "--weights", str(ckpt), "--json")  # fmt: skip
    assert result.exit_code == 1
    rows = {Path(r["source"]).name: r for r in _json_lines(result.stdout)}
    assert rows["good.jpg"]["status"] == "ok"
    for name in [*bad, "missing.png"]:
        assert rows[name]["status"] == "failed"
        assert name in rows[name]["error"] and "\n" not in rows[name]["error"]
    assert "too large to decode (100000x100000)" in rows["huge.png"]["error"]
    assert "unsupported: 5 channels" in rows["five.tif"]["error"]
    assert "libpng" not in capfd.readouterr().err
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == sorted([*bad, "good.jpg", "good_deblurred.jpg"])


def test_a_failing_file_does_not_stop_the_batch_or_its_summary(tmp_path: Path, ckpt: Path) -> None:
    (tmp_path / "a_huge.png").write_bytes(png_header_only(100_000, 100_000))
    write_noise(tmp_path / "b.jpg")
    result = _invoke(str(tmp_path), "--weights", str(ckpt))
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "too large to decode" in result.output
    assert (tmp_path / "b_deblurred.jpg").is_file()  # the file after the bad one still ran
    assert "images restored" in result.stdout and "failed" in result.stdout


def test_directory_without_images_is_an_error(tmp_path: Path, ckpt: Path) -> None:
    (tmp_path / "empty_dir").mkdir()
    result = _invoke(str(tmp_path / "empty_dir"), "--weights", str(ckpt))
    assert result.exit_code == 1
    assert "no images in this directory" in result.output


def test_unwritable_output_path_is_a_file(tmp_path: Path, ckpt: Path) -> None:
    src = write_noise(tmp_path / "a.jpg")
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
    src = write_noise(tmp_path / "a.jpg")
    result = _invoke(str(src), "--model", "ce-mlwnet")
    assert result.exit_code == 1
    assert "deblur weights download ce-mlwnet.seed-realblur-j" in result.output
    assert not (tmp_path / "a_deblurred.jpg").exists()


def test_model_and_weights_must_agree(tmp_path: Path, ckpt: Path) -> None:
    src = write_noise(tmp_path / "a.jpg")
    result = _invoke(str(src), "--model", "fftformer", "--weights", str(ckpt))
    assert result.exit_code == 1
    assert not (tmp_path / "a_deblurred.jpg").exists()


def test_tiny_and_odd_sizes(tmp_path: Path, ckpt: Path) -> None:
    for h, w in [(16, 16), (7, 5), (33, 130)]:
        src = write_noise(tmp_path / f"i{h}x{w}.png", h, w)
        result = _invoke(str(src), "--weights", str(ckpt), "--tile", "32", "--overlap", "8")
        assert result.exit_code == 0, result.output
        assert cv2.imread(str(tmp_path / f"i{h}x{w}_deblurred.png")).shape[:2] == (h, w)


# --- outputs never replace inputs, never leave the output folder (issue 10, defects 2 and 6) -


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_output_that_is_the_input_is_refused(tmp_path: Path, ckpt: Path, extra: list[str]) -> None:
    src = write_noise(tmp_path / "good.png")
    before = src.read_bytes()
    for args in (["-o", str(src)], ["--suffix", ""], ["-o", str(tmp_path / "." / "good.png")]):
        result = _invoke(str(src), *args, *extra, "--weights", str(ckpt))
        assert result.exit_code == 1, args
        assert "is the input itself" in result.output and "never overwritten" in result.output
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.png"]


def test_output_that_is_another_input_is_refused(tmp_path: Path, ckpt: Path) -> None:
    a = write_noise(tmp_path / "a.png")
    b = write_noise(tmp_path / "a_deblurred.png", seed=1)  # e.g. left by an earlier run
    before = b.read_bytes()
    result = _invoke(str(a), str(b), "--overwrite", "--weights", str(ckpt))
    assert result.exit_code == 1
    assert f"is the input {b.name}" in result.output.replace(str(tmp_path) + "/", "")
    assert b.read_bytes() == before


def test_output_through_a_link_to_the_input_is_refused(tmp_path: Path, ckpt: Path) -> None:
    src = write_noise(tmp_path / "photo.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "photo_deblurred.png").symlink_to(src)
    result = _invoke(str(src), "-o", str(tmp_path / "out"), "--overwrite", "--weights", str(ckpt))
    assert result.exit_code == 1 and "is the input itself" in result.output


@pytest.mark.parametrize("suffix", ["/../../escaped", "_x/y", "..", "_a..b"])
def test_suffix_cannot_leave_the_output_folder(tmp_path: Path, ckpt: Path, suffix: str) -> None:
    (tmp_path / "deep" / "out").mkdir(parents=True)
    src = write_noise(tmp_path / "deep" / "a.png")
    result = _invoke(str(src), "-o", str(tmp_path / "deep" / "out"), "--suffix", suffix,
                     "--weights", str(ckpt))  # fmt: skip
    assert result.exit_code == 1 and "path separators or '..'" in result.output
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "deep", "deep/a.png", "deep/out",
    ]  # fmt: skip


def test_two_inputs_with_one_output_name(tmp_path: Path, ckpt: Path) -> None:
    """a.jpg and a.png both map to a_deblurred.png with --ext png: the first in sorted order is
    restored, the second fails naming both (never silently overwritten by the second)."""
    first = write_noise(tmp_path / "a.jpg", seed=1)
    second = write_noise(tmp_path / "a.png", seed=2)
    out = tmp_path / "out"
    result = _invoke(str(tmp_path), "-o", str(out), "--ext", "png", "--weights", str(ckpt), "--json")
    assert result.exit_code == 1
    rows = {Path(r["source"]).name: r for r in _json_lines(result.stdout)}
    assert rows["a.jpg"]["status"] == "ok" and rows["a.jpg"]["output"] == str(out / "a_deblurred.png")
    assert rows["a.png"]["status"] == "failed"
    assert "already the output of" in rows["a.png"]["error"] and str(first) in rows["a.png"]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["a_deblurred.png"]
    assert second.is_file()


# --- numbers are checked before anything runs (issue 10, defect 5) ---------------------------


@pytest.mark.parametrize(
    "option, value",
    [("--resize-long", "0"), ("--resize-long", "-5"), ("--tile-batch", "0"),
     ("--tile-batch", "-3"), ("--tile", "-1"), ("--overlap", "-8"), ("--quality", "0")],
)  # fmt: skip
def test_out_of_range_numbers_are_usage_errors(
    tmp_path: Path, ckpt: Path, option: str, value: str
) -> None:
    src = write_noise(tmp_path / "a.png")
    result = _invoke(str(src), option, value, "--weights", str(ckpt))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert option in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_unknown_ext_lists_every_format(tmp_path: Path, ckpt: Path) -> None:
    src = write_noise(tmp_path / "a.png")
    result = _invoke(str(src), "--ext", "gif", "--weights", str(ckpt))
    assert result.exit_code == 1
    assert "png, jpg, jpeg, bmp, tif, tiff, webp" in result.output


def test_bmp_output(tmp_path: Path, ckpt: Path) -> None:
    src = write_noise(tmp_path / "a.png")
    result = _invoke(str(src), "--ext", "bmp", "--weights", str(ckpt))
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "a_deblurred.bmp")).shape == (40, 56, 3)


# --- options the issue asked to cover -------------------------------------------------------


def test_resize_long_with_alpha_and_gif(tmp_path: Path, ckpt: Path) -> None:
    rgba = (np.random.RandomState(3).rand(40, 64, 4) * 255).astype(np.uint8)
    rgba[:, :32, 3] = 0  # left half transparent, right half opaque
    rgba[:, 32:, 3] = 255
    src = tmp_path / "logo.png"
    cv2.imwrite(str(src), rgba)
    result = _invoke(str(src), "--resize-long", "32", "--gif", "--weights", str(ckpt), "--json")
    assert result.exit_code == 0, result.output
    row = _json_lines(result.stdout)[0]
    assert row["resized_to"] == [20, 32] and (row["width"], row["height"]) == (64, 40)
    out = cv2.imread(row["output"], cv2.IMREAD_UNCHANGED)
    assert out.shape == (20, 32, 4)
    assert (out[:, :15, 3] == 0).all() and (out[:, 17:, 3] == 255).all()  # alpha resized alike
    frames = iio.imread(row["gif"], index=None)
    assert frames.shape[:3] == (2, 20, 32)  # both frames at the restored size


def test_tlc_and_no_tlc(tmp_path: Path, mlwnet_ckpt: Path) -> None:
    src = write_noise(tmp_path / "a.png", 64, 80)
    base = [str(src), "--weights", str(mlwnet_ckpt), "--overwrite", "--tile", "0", "--json",
            "--device", "cpu"]  # fmt: skip

    def restored(*args: str) -> tuple[str, np.ndarray]:
        result = _invoke(*base, *args)
        assert result.exit_code == 0, result.output
        return result.stderr, cv2.imread(str(tmp_path / "a_deblurred.png"))

    plain_log, plain = restored()
    tlc_log, tlc = restored("--tlc")
    local_log, local = restored("--model", "mlwnet-local")
    assert ", TLC" not in plain_log and ", TLC" in tlc_log and ", TLC" in local_log
    np.testing.assert_array_equal(tlc, local)  # --tlc on mlwnet == the mlwnet-local entry
    result = _invoke(*base, "--model", "mlwnet-local", "--no-tlc")
    assert result.exit_code == 1
    assert "always uses the local converter" in result.output and "--model mlwnet" in result.output


def test_restore_help(tmp_path: Path) -> None:
    result = runner.invoke(app, ["restore", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for line in result.stdout.splitlines():
        if any(f"{flag} " in line for flag in ("--tta", "--gif ", "--overwrite", "--recursive",
                                                "--json", "--tlc")):  # fmt: skip
            assert "<bool>" not in line, line
    assert "png, jpg, jpeg, bmp, tif, tiff, webp" in result.stdout
    assert "deblur models" in result.stdout  # tile defaults are the model's, not restated here
