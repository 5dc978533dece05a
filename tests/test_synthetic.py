"""Synthetic camera-shake pairs: kernels, the linear-light pipeline order, reproducibility."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from deblur_cli.errors import DeblurError
from deblur_cli.training.kernels import kernel_centroid
from deblur_cli.training.preview import kernel_tile, make_contact_sheet, sheet_shape
from deblur_cli.training.synthetic import (
    SynthConfig,
    degrade,
    line_kernel,
    linear_to_srgb,
    random_kernel,
    srgb_to_linear,
    synthesize_pair,
)

# Everything off but the blur: the pipeline is then gamma round trip + convolution + quantise.
CLEAN = SynthConfig(
    saturation_boost=(1.0, 1.0), shot_noise=(0.0, 0.0), read_noise=(0.0, 0.0), jpeg_probability=0.0
)
DELTA = line_kernel(0.0, 0.0, 31)


def grid_image(seed: int, h: int = 64, w: int = 80) -> np.ndarray:
    """A random image on the 8-bit grid, as decoded files are."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3)).astype(np.float32) / np.float32(255)


def on_8bit_grid(x: np.ndarray) -> bool:
    return bool(np.all(np.abs(x * 255 - np.round(x * 255)) < 1e-4))


# --- kernels -------------------------------------------------------------------------------


@pytest.mark.parametrize("line_probability", [0.0, 1.0, 0.5])
@pytest.mark.parametrize("size", [15, 31, 45])
def test_random_kernels_are_normalised_centred_float32(line_probability: float, size: int) -> None:
    cfg = SynthConfig(kernel_size=size, max_length=40.0, line_probability=line_probability)
    centre = size // 2
    for seed in range(40):
        k = random_kernel(np.random.default_rng(seed), cfg)
        assert k.shape == (size, size) and k.dtype == np.float32
        assert k.min() >= 0.0
        assert abs(float(k.sum(dtype=np.float64)) - 1.0) < 1e-6
        cx, cy = kernel_centroid(k)
        assert abs(cx - centre) < 1e-3 and abs(cy - centre) < 1e-3, (seed, cx, cy)


def test_random_kernel_same_seed_same_kernel_other_seed_other_kernel() -> None:
    cfg = SynthConfig()
    a = random_kernel(np.random.default_rng(7), cfg)
    b = random_kernel(np.random.default_rng(7), cfg)
    c = random_kernel(np.random.default_rng(8), cfg)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def spread(k: np.ndarray) -> float:
    """RMS distance of the kernel's mass from its centroid, in pixels."""
    ys, xs = np.indices(k.shape)
    cx, cy = kernel_centroid(k)
    return math.sqrt(float((k * ((xs - cx) ** 2 + (ys - cy) ** 2)).sum()))


@pytest.mark.parametrize("line_probability", [0.0, 1.0])
def test_max_length_sets_blur_strength(line_probability: float) -> None:
    def mean_spread(length: float) -> float:
        cfg = SynthConfig(min_length=length, max_length=length, line_probability=line_probability)
        return float(
            np.mean([spread(random_kernel(np.random.default_rng(s), cfg)) for s in range(30)])
        )

    mild, strong = mean_spread(4.0), mean_spread(24.0)
    assert strong > 3.0 * mild > 0.0


def test_line_kernel_extent_horizontal_and_vertical() -> None:
    h = line_kernel(10.0, 0.0, 31)
    rows, cols = np.nonzero(h > 1e-7)
    assert set(rows.tolist()) == {15}
    assert (cols.min(), cols.max()) == (10, 20)
    v = line_kernel(10.0, 90.0, 31)
    rows, cols = np.nonzero(v > 1e-7)
    assert set(cols.tolist()) == {15}
    assert (rows.min(), rows.max()) == (10, 20)
    # uniform motion: every interior pixel of the segment gets the same weight
    interior = h[15, 11:20]
    assert np.allclose(interior, interior.mean(), rtol=1e-3)


@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 100.0, 160.0])
def test_line_kernel_orientation_and_length(angle: float) -> None:
    k = line_kernel(20.0, angle, 31).astype(np.float64)
    ys, xs = np.indices(k.shape)
    dx, dy = xs - 15.0, -(ys - 15.0)  # y up, so angles are counter-clockwise
    cov = np.array(
        [[(k * dx * dx).sum(), (k * dx * dy).sum()], [(k * dx * dy).sum(), (k * dy * dy).sum()]]
    )
    eigval, eigvec = np.linalg.eigh(cov)
    major = eigvec[:, 1]
    found = math.degrees(math.atan2(major[1], major[0])) % 180.0
    assert min(abs(found - angle), 180.0 - abs(found - angle)) < 1.0
    # a uniform segment of length L has variance L²/12 along its axis
    assert math.sqrt(12 * eigval[1]) == pytest.approx(20.0, rel=0.05)


def test_line_kernel_zero_length_is_delta_and_too_long_is_refused() -> None:
    k = line_kernel(0.0, 33.0, 9)
    expected = np.zeros((9, 9), np.float32)
    expected[4, 4] = 1.0
    assert np.array_equal(k, expected)
    with pytest.raises(DeblurError, match="length"):
        line_kernel(9.5, 0.0, 9)


# --- colour transfer -----------------------------------------------------------------------


def test_srgb_curve_is_the_piecewise_standard_and_round_trips() -> None:
    x = np.linspace(0.0, 1.0, 100_001, dtype=np.float32)
    assert np.max(np.abs(linear_to_srgb(srgb_to_linear(x)) - x)) < 1e-6
    assert np.max(np.abs(srgb_to_linear(linear_to_srgb(x)) - x)) < 1e-6
    probe = np.array([0.02, 0.04045, 0.5, 1.0], np.float32)
    expected = [0.02 / 12.92, 0.04045 / 12.92, ((0.5 + 0.055) / 1.055) ** 2.4, 1.0]
    assert np.allclose(srgb_to_linear(probe), expected, rtol=1e-5, atol=1e-7)
    assert float(linear_to_srgb(np.array([0.0031308], np.float32))[0]) == pytest.approx(
        0.04045, abs=1e-6
    )


# --- pipeline ------------------------------------------------------------------------------


def test_delta_kernel_without_noise_returns_the_quantised_sharp_image() -> None:
    image = grid_image(0)
    blurred, sharp, _ = synthesize_pair(image, np.random.default_rng(0), CLEAN)
    assert np.array_equal(sharp, image)
    out = degrade(image, DELTA, np.random.default_rng(1), CLEAN)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert np.array_equal(out, sharp)


def reference_blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Textbook convolution in linear light, symmetric (cv2 BORDER_REFLECT) padding."""
    lin = srgb_to_linear(image).astype(np.float64)
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(lin, ((ry, ry), (rx, rx), (0, 0)), mode="symmetric")
    h, w = image.shape[:2]
    out = np.zeros_like(lin)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            # out(y, x) = sum k(i, j) · in(y - (i - ry), x - (j - rx))
            out += kernel[i, j] * padded[2 * ry - i : 2 * ry - i + h, 2 * rx - j : 2 * rx - j + w]
    return np.floor(linear_to_srgb(np.clip(out, 0, 1).astype(np.float32)) * 255 + 0.5) / 255


def test_blur_is_a_true_convolution_in_linear_light_with_reflected_borders() -> None:
    image = grid_image(3, 40, 50)
    rng = np.random.default_rng(3)
    kernel = rng.random((7, 5)).astype(np.float32)
    kernel[0, :] *= 6  # lopsided, so correlation and convolution differ
    kernel /= kernel.sum()
    out = degrade(image, kernel, rng, CLEAN)
    ref = reference_blur(image, kernel)
    assert np.max(np.abs(out - ref)) <= 1.0 / 255 + 1e-6
    assert np.mean(out == ref) > 0.99


def test_blurring_a_dot_does_not_move_it() -> None:
    image = np.zeros((61, 61, 3), np.float32)
    image[30, 30] = 0.9  # below the saturation threshold
    cfg = replace(CLEAN, line_probability=0.3, max_length=28.0)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        kernel = random_kernel(rng, cfg)
        out = srgb_to_linear(degrade(image, kernel, rng, cfg))[:, :, 0].astype(np.float64)
        ys, xs = np.indices(out.shape)
        assert (out * xs).sum() / out.sum() == pytest.approx(30.0, abs=0.05)
        assert (out * ys).sum() / out.sum() == pytest.approx(30.0, abs=0.05)


def test_noise_is_poisson_gaussian_in_linear_light() -> None:
    a, b = 0.01, 0.01
    cfg = replace(CLEAN, shot_noise=(a, a), read_noise=(b, b))
    levels = [0.2, 0.6]  # linear light
    srgb = [
        np.round(float(linear_to_srgb(np.array([v], np.float32))[0]) * 255) / 255 for v in levels
    ]
    image = np.zeros((128, 256, 3), np.float32)
    image[:, :128], image[:, 128:] = srgb
    out = srgb_to_linear(degrade(image, DELTA, np.random.default_rng(5), cfg))
    for half, s in zip((out[:, :128], out[:, 128:]), srgb):
        x = float(srgb_to_linear(np.array([s], np.float32))[0])
        assert float(half.mean()) == pytest.approx(x, abs=2e-3)
        assert float(half.var()) == pytest.approx(a * x + b * b, rel=0.05)


def spot_energy(boost: float, level: float = 1.0) -> float:
    background = np.float32(13 / 255)  # on the 8-bit grid, so the background is exact
    image = np.full((64, 64, 3), background, np.float32)
    image[31:34, 31:34] = level
    cfg = replace(CLEAN, saturation_boost=(boost, boost), saturation_threshold=0.98)
    out = degrade(image, line_kernel(20.0, 0.0, 31), np.random.default_rng(0), cfg)
    return float(
        (srgb_to_linear(out) - srgb_to_linear(np.array([background], np.float32))[0]).sum()
    )


def test_saturated_highlights_are_boosted_before_the_blur() -> None:
    plain, boosted = spot_energy(1.0), spot_energy(4.0)
    assert plain == pytest.approx(27.0, rel=0.02)  # 3×3 spot × 3 channels at linear 1.0
    assert boosted > 1.5 * plain
    # below the threshold nothing is boosted
    assert spot_energy(4.0, level=0.9) == pytest.approx(spot_energy(1.0, level=0.9), rel=1e-6)


def test_jpeg_comes_after_noise_and_gamma_and_before_quantisation() -> None:
    image = grid_image(9)
    base = replace(SynthConfig(), jpeg_quality=(70, 70), saturation_boost=(2.0, 2.0))
    plain = degrade(
        image,
        line_kernel(6.0, 20.0, 31),
        np.random.default_rng(4),
        replace(base, jpeg_probability=0.0),
    )
    jpeg = degrade(
        image,
        line_kernel(6.0, 20.0, 31),
        np.random.default_rng(4),
        replace(base, jpeg_probability=1.0),
    )
    pixels = np.floor(plain * 255 + 0.5).astype(np.uint8)[:, :, ::-1].copy()
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 70])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    assert ok and decoded is not None
    expected = decoded[:, :, ::-1].astype(np.float32) / 255
    assert np.array_equal(jpeg, expected)
    assert not np.array_equal(jpeg, plain)


def test_pairs_are_quantised_float32_and_reproducible() -> None:
    image = grid_image(11)
    cfg = replace(SynthConfig(), jpeg_probability=0.5)
    first = synthesize_pair(image, np.random.default_rng(21), cfg)
    again = synthesize_pair(image, np.random.default_rng(21), cfg)
    other = synthesize_pair(image, np.random.default_rng(22), cfg)
    for x, y in zip(first, again):
        assert np.array_equal(x, y)
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[2], other[2])
    blurred, sharp, _ = first
    assert blurred.dtype == sharp.dtype == np.float32
    assert 0.0 <= blurred.min() and blurred.max() <= 1.0
    assert on_8bit_grid(blurred) and on_8bit_grid(sharp)


def test_sharp_target_is_the_input_quantised_to_8_bits() -> None:
    image = np.random.default_rng(12).random((32, 48, 3), dtype=np.float32)
    _, sharp, _ = synthesize_pair(image, np.random.default_rng(0), SynthConfig())
    assert np.array_equal(sharp, np.floor(image * 255 + 0.5) / 255)


def test_bad_arrays_are_refused() -> None:
    with pytest.raises(DeblurError, match="H×W×3"):
        degrade(np.zeros((8, 8), np.float32), DELTA, np.random.default_rng(0), CLEAN)
    with pytest.raises(DeblurError, match="odd"):
        degrade(np.zeros((8, 8, 3), np.float32), np.ones((4, 4)), np.random.default_rng(0), CLEAN)


# --- config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kernel_size", 30),
        ("kernel_size", 1),
        ("kernel_size", 31.0),
        ("min_length", -1.0),
        ("max_length", 2.0),  # below the default min_length
        ("line_probability", 1.5),
        ("inertia", -0.1),
        ("jerk_probability", float("nan")),
        ("exposure", (0.0, 1.0)),
        ("exposure", (0.9, 0.5)),
        ("exposure", (0.5,)),
        ("saturation_threshold", 0.0),
        ("saturation_boost", (0.5, 2.0)),
        ("shot_noise", (-0.1, 0.0)),
        ("read_noise", ("a", 0.1)),
        ("jpeg_probability", True),
        ("jpeg_quality", (0, 90)),
        ("jpeg_quality", (60.5, 90)),
    ],
)
def test_invalid_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(DeblurError, match=field) as info:
        SynthConfig(**{field: value})  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_config_accepts_toml_lists_as_ranges() -> None:
    cfg = SynthConfig(exposure=[0.6, 0.9], jpeg_quality=[50, 80])  # type: ignore[arg-type]
    assert cfg.exposure == (0.6, 0.9) and cfg.jpeg_quality == (50, 80)
    hash(cfg)


# --- contact sheet -------------------------------------------------------------------------


def test_contact_sheet_layout() -> None:
    images = [grid_image(1, 70, 90), grid_image(2, 64, 64)]
    n, crop = 3, 48
    sheet = make_contact_sheet(images, np.random.default_rng(0), SynthConfig(), n, crop)
    assert sheet.shape == sheet_shape(n, crop) == (n * crop + (n + 1) * 4, 3 * crop + 16, 3)
    assert sheet.dtype == np.float32 and 0.0 <= sheet.min() and sheet.max() <= 1.0
    again = make_contact_sheet(images, np.random.default_rng(0), SynthConfig(), n, crop)
    assert np.array_equal(sheet, again)
    kernel_col = sheet[4 : 4 + crop, 4 : 4 + crop]
    assert kernel_col.max() == pytest.approx(1.0)
    sharp_tile = sheet[4 : 4 + crop, 4 + 2 * (crop + 4) : 4 + 2 * (crop + 4) + crop]
    assert any(
        np.array_equal(sharp_tile, im[y : y + crop, x : x + crop])
        for im in images
        for y in range(im.shape[0] - crop + 1)
        for x in range(im.shape[1] - crop + 1)
    )
    with pytest.raises(DeblurError, match="crop"):
        make_contact_sheet(images, np.random.default_rng(0), SynthConfig(), 1, 100)


def test_kernel_tile_upscales_by_an_integer_factor() -> None:
    tile = kernel_tile(line_kernel(0.0, 0.0, 31), 64)  # factor 2: one 2×2 white block
    assert tile.shape == (64, 64, 3)
    assert int((tile[:, :, 0] == 1.0).sum()) == 4
