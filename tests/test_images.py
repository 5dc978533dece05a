"""deblur_cli.files: decoding to float RGB, metadata, rounding, atomic writes, reports, errors."""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.images import png_header_only, tiff_bytes
from PIL import Image, ImageOps

from deblur_cli.errors import DatasetError, ImageError
from deblur_cli.files import (
    atomic,
    quantize,
    read_image,
    write_image,
    write_json,
    write_json_lines,
)

RNG = np.random.default_rng(1234)


def _raw(path: Path) -> np.ndarray:
    """Stored samples, OpenCV order (BGR/BGRA), no conversion."""
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


# --------------------------------------------------------------------------- reading


def test_png_8bit_round_trip_is_exact(tmp_path: Path) -> None:
    stored = RNG.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    path = tmp_path / "a.png"
    write_image(path, stored / 255.0)
    assert np.array_equal(_raw(path)[:, :, ::-1], stored)
    rgb, info = read_image(path)
    assert rgb.dtype == np.float32 and rgb.shape == (17, 23, 3)
    assert np.array_equal(quantize(rgb), stored)
    assert (info.format, info.bit_depth, info.mode, info.height, info.width) == (
        "png",
        8,
        "RGB",
        17,
        23,
    )
    assert info.alpha is None and not info.has_alpha and info.path == path


def test_channel_order_is_rgb(tmp_path: Path) -> None:
    red_bgr = np.zeros((4, 5, 3), np.uint8)
    red_bgr[:, :, 2] = 255
    cv2.imwrite(str(tmp_path / "red.png"), red_bgr)
    rgb, _ = read_image(tmp_path / "red.png")
    assert np.array_equal(rgb[0, 0], [1.0, 0.0, 0.0])


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_round_trip(tmp_path: Path, suffix: str) -> None:
    stored = RNG.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    source = tmp_path / f"in{suffix}"
    cv2.imwrite(str(source), stored[:, :, ::-1])
    rgb, info = read_image(source)
    assert info.bit_depth == 16
    assert np.array_equal(rgb, stored.astype(np.float32) / np.float32(65535))
    out = tmp_path / f"out{suffix}"
    write_image(out, rgb, bit_depth=info.bit_depth)
    raw = _raw(out)
    assert raw.dtype == np.uint16
    assert np.array_equal(raw[:, :, ::-1], stored)


def test_16bit_request_falls_back_to_8bit_where_the_format_cannot_hold_it(tmp_path: Path) -> None:
    image = RNG.random((8, 8, 3), dtype=np.float32)
    for suffix in (".jpg", ".webp", ".bmp"):
        write_image(tmp_path / f"x{suffix}", image, bit_depth=16)
        assert _raw(tmp_path / f"x{suffix}").dtype == np.uint8


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_grayscale_is_replicated_to_rgb(tmp_path: Path, dtype: type) -> None:
    top = np.iinfo(dtype).max
    stored = RNG.integers(0, int(top) + 1, (6, 7), dtype=dtype)
    cv2.imwrite(str(tmp_path / "g.png"), stored)
    rgb, info = read_image(tmp_path / "g.png")
    assert rgb.shape == (6, 7, 3) and info.mode == "L"
    assert info.bit_depth == (8 if dtype == np.uint8 else 16)
    expected = stored.astype(np.float32) / np.float32(top)
    for c in range(3):
        assert np.array_equal(rgb[:, :, c], expected)


def test_gray_output_writes_one_channel(tmp_path: Path) -> None:
    write_image(tmp_path / "g.png", np.full((3, 4), 0.5, np.float32))
    raw = _raw(tmp_path / "g.png")
    assert raw.shape == (3, 4) and raw[0, 0] == 128


@pytest.mark.parametrize(
    "suffix,dtype",
    [(".png", np.uint8), (".png", np.uint16), (".tif", np.uint16), (".webp", np.uint8)],
)
def test_alpha_is_kept_aside_and_reattached(tmp_path: Path, suffix: str, dtype: type) -> None:
    top = int(np.iinfo(dtype).max)
    bgra = RNG.integers(0, top + 1, (10, 12, 4), dtype=dtype)
    source = tmp_path / f"a{suffix}"
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if suffix == ".webp" else []  # 101 = lossless
    cv2.imwrite(str(source), bgra, params)
    rgb, info = read_image(source)
    assert info.has_alpha and info.mode == "RGBA" and rgb.shape == (10, 12, 3)
    assert np.array_equal(info.alpha, bgra[:, :, 3].astype(np.float32) / np.float32(top))
    assert np.array_equal(quantize(rgb, info.bit_depth), bgra[:, :, 2::-1])
    out = tmp_path / f"b{suffix}"
    write_image(out, rgb, bit_depth=info.bit_depth, alpha=info.alpha, quality=100)
    if suffix != ".webp":
        assert np.array_equal(_raw(out), bgra)
    else:
        assert np.array_equal(_raw(out)[:, :, 3], bgra[:, :, 3])


def test_jpeg_drops_alpha(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", np.zeros((4, 4, 3)), alpha=np.ones((4, 4)))
    assert _raw(tmp_path / "a.jpg").shape == (4, 4, 3)


def test_alpha_shape_must_match(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="alpha shape"):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 3)), alpha=np.ones((4, 5)))


def test_write_rejects_integer_images(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="float image"):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    stored = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)  # not square: 5-8 swap axes
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"  # lossless, so the comparison is exact
    Image.fromarray(stored).save(path, exif=exif)
    rgb, info = read_image(path)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    assert info.orientation == orientation
    assert (info.height, info.width) == expected.shape[:2]
    assert np.array_equal(quantize(rgb), expected)


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("WEBP", ".webp"), ("TIFF", ".tif")])
def test_exif_orientation_in_jpeg_webp_tiff(tmp_path: Path, fmt: str, suffix: str) -> None:
    stored = np.zeros((40, 64, 3), np.uint8)
    stored[:16, :16] = 255  # white block top-left; orientation 6 = rotate 90° clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / f"o{suffix}"
    extra = {"quality": 100} if fmt != "TIFF" else {}
    Image.fromarray(stored).save(path, fmt, exif=exif, **extra)
    rgb, info = read_image(path)
    assert rgb.shape == (64, 40, 3)
    expected = np.rot90(stored, -1) / 255.0
    assert np.abs(rgb - expected).mean() < 0.02
    assert rgb[4, 36].min() > 0.9 and rgb[4, 4].max() < 0.1
    # TIFF orientation is applied by OpenCV's decoder; reading it again here would double it.
    assert info.orientation == (1 if fmt == "TIFF" else 6)


def test_bmp_and_float_tiff(tmp_path: Path) -> None:
    stored = RNG.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.bmp"), stored)
    rgb, info = read_image(tmp_path / "a.bmp")
    assert info.format == "bmp" and np.array_equal(quantize(rgb), stored[:, :, ::-1])
    floats = RNG.random((5, 6, 3), dtype=np.float32) * 1.2 - 0.1
    cv2.imwrite(str(tmp_path / "f.tiff"), floats)
    rgb, info = read_image(tmp_path / "f.tiff")
    assert info.bit_depth == 32
    assert np.array_equal(rgb, np.clip(floats[:, :, ::-1], 0, 1))


def test_format_is_taken_from_content_not_suffix(tmp_path: Path) -> None:
    path = tmp_path / "actually_png.jpg"
    path.write_bytes(cv2.imencode(".png", np.zeros((3, 3, 3), np.uint8))[1].tobytes())
    assert read_image(path)[1].format == "png"


# --------------------------------------------------------------------------- read errors


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good_png = cv2.imencode(".png", RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8))[1].tobytes()
    good_jpg = cv2.imencode(".jpg", RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8))[1].tobytes()
    bmp = bytearray(cv2.imencode(".bmp", np.zeros((3, 4, 3), np.uint8))[1].tobytes())
    bmp[18:22] = struct.pack("<i", 0)
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    files = {
        "empty": (b"", "empty file (0 bytes)"),
        "text": (b"hello, not an image\n", "unsupported image format"),
        "gif": (gif.getvalue(), "unsupported image format"),
        "garbage_png": (b"\x89PNG\r\n\x1a\n" + b"x" * 200, "corrupt or truncated PNG"),
        "truncated_png": (good_png[: len(good_png) // 2], "corrupt or truncated PNG"),
        "truncated_jpg": (good_jpg[: len(good_jpg) // 2], "corrupt or truncated JPEG"),
        "zero_png": (png_header_only(0, 5), "zero-size image (0x5)"),
        "zero_bmp": (bytes(bmp), "zero-size image (0x3)"),
        # OpenCV raises cv2.error above its pixel limit instead of returning None
        "huge_png": (png_header_only(100_000, 100_000), "too large to decode (100000x100000)"),
        # libpng prints "libpng error: Not enough image data" straight to fd 2
        "no_pixel_data": (png_header_only(64, 64), "corrupt or truncated PNG"),
        "five_channel_tiff": (tiff_bytes(np.zeros((4, 5, 5), np.uint8)), "unsupported: 5 channels"),
    }
    out = {}
    for name, (data, message) in files.items():
        path = tmp_path / f"{name}.png"
        path.write_bytes(data)
        out[name] = (path, message)
    return out


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "text",
        "gif",
        "garbage_png",
        "truncated_png",
        "truncated_jpg",
        "zero_png",
        "zero_bmp",
        "huge_png",
        "no_pixel_data",
        "five_channel_tiff",
    ],
)
def test_bad_files_raise_image_error_naming_file_and_problem(
    tmp_path: Path, case: str, capfd: pytest.CaptureFixture[str]
) -> None:
    path, message = _bad_inputs(tmp_path)[case]
    with pytest.raises(ImageError) as excinfo:
        read_image(path)
    text = str(excinfo.value)
    assert str(path) in text and message in text and "\n" not in text
    assert capfd.readouterr().err == ""  # OpenCV's logging and libpng's messages are silenced


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="file not found"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a folder"):
        read_image(tmp_path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.png"
    path.write_bytes(b"x")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)  # chmod does not stop root
    with pytest.raises(ImageError, match=r"locked\.png: cannot read \(Permission denied\)"):
        read_image(path)


# --------------------------------------------------------------------------- writing


def test_quantize_rounds_half_up_and_clips() -> None:
    x = np.array([0.0, 0.49 / 255, 0.5 / 255, 1.5 / 255, 254.5 / 255, 1.0, 1.7, -0.3, np.nan])
    assert quantize(x).tolist() == [0, 0, 1, 2, 255, 255, 255, 0, 0]
    assert quantize(np.array([0.5 / 65535, 1.0]), 16).tolist() == [1, 65535]
    assert quantize(x).dtype == np.uint8 and quantize(x, 16).dtype == np.uint16


def test_write_uses_the_rounding_rule(tmp_path: Path) -> None:
    values = np.array([[0.2, 0.5 / 255 + 1e-6, 0.999]], np.float32)
    image = np.repeat(values[:, :, None], 3, axis=2)
    write_image(tmp_path / "r.png", image)
    assert _raw(tmp_path / "r.png")[0, :, 0].tolist() == [51, 1, 255]


def test_jpeg_quality_option(tmp_path: Path) -> None:
    image = RNG.random((64, 64, 3), dtype=np.float32)
    low = write_image(tmp_path / "low.jpg", image, quality=10).stat().st_size
    high = write_image(tmp_path / "high.jpg", image, quality=95).stat().st_size
    assert low < high
    with pytest.raises(ValueError):
        write_image(tmp_path / "bad.jpg", image, quality=0)


def test_write_errors(tmp_path: Path) -> None:
    image = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(ImageError, match=r"unsupported output format '\.gif'"):
        write_image(tmp_path / "x.gif", image)
    with pytest.raises(ImageError, match=r"missing.*x\.png: cannot write"):
        write_image(tmp_path / "missing" / "x.png", image)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ImageError, match=r"folder\.png: cannot write"):
        write_image(tmp_path / "folder.png", image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.png"]  # no temp files left


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failed_write_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise failure

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    expected = ImageError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected):
        write_image(path, np.zeros((4, 4, 3)))
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_written_file_gets_umask_permissions(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    path = write_image(tmp_path / "p.png", np.zeros((2, 2, 3)))
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_overwrite_replaces_content(tmp_path: Path) -> None:
    path = tmp_path / "o.png"
    write_image(path, np.zeros((2, 2, 3)))
    write_image(path, np.ones((3, 5, 3)))
    rgb, _ = read_image(path)
    assert rgb.shape == (3, 5, 3) and rgb.min() == 1.0


# --------------------------------------------------------------------------- reports


def test_json_reports_round_trip_and_create_their_folder(tmp_path: Path) -> None:
    path = write_json(tmp_path / "new" / "r.json", {"psnr": float("inf"), "n": [1, 2]})
    assert json.loads(path.read_text()) == {"psnr": float("inf"), "n": [1, 2]}
    assert path.read_text().endswith("}\n")
    lines = write_json_lines(tmp_path / "r.jsonl", [{"a": 1}, {"b": 2}])
    assert [json.loads(x) for x in lines.read_text().splitlines()] == [{"a": 1}, {"b": 2}]


def test_json_report_failure_raises_the_callers_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(DatasetError, match=r"blocker.*cannot create its folder"):
        write_json(tmp_path / "blocker" / "r.json", {}, error=DatasetError)
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(DatasetError, match=r"dir\.json: cannot write"):
        write_json(tmp_path / "dir.json", {}, error=DatasetError)


def test_only_libpng_lines_are_dropped_from_native_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    from deblur_cli.files.images import _native_stderr_filtered

    with _native_stderr_filtered(True):
        os.write(2, b"progress 1/2\nlibpng error: Not enough image data\nlibpng warning: x\n")
    assert capfd.readouterr().err == "progress 1/2\n"
