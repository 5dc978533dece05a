"""Synthetic camera-shake pairs for training: random kernels and a physically ordered degradation.

`degrade` applies, in this exact order, to a float32 H×W×3 sRGB image in [0, 1]:
  1. sRGB -> linear light with the piecewise IEC 61966-2-1 curve (`srgb_to_linear`).
  2. Highlight boost: every pixel whose largest sRGB channel is >= `saturation_threshold` has all
     three linear channels multiplied by one factor s ~ U(saturation_boost) drawn per image, so
     clipped light sources carry more energy than the 1.0 they were stored as.
  3. Blur: true convolution with the kernel (cv2.filter2D on the flipped kernel, anchor at the
     kernel centre, cv2.BORDER_REFLECT), then clip to [0, 1] (the sensor saturates).
  4. Sensor noise in linear light, heteroscedastic Gaussian form of the Poisson-Gaussian model
     (Foi et al. 2008): y = x + sqrt(a·x + b²)·n, n ~ N(0, 1), a ~ U(shot_noise),
     b ~ U(read_noise), then clip to [0, 1].
  5. Linear -> sRGB (`linear_to_srgb`).
  6. JPEG with probability `jpeg_probability`: 8-bit quantise, cv2.imencode at a quality drawn
     uniformly from the integers in `jpeg_quality`, decode.
  7. 8-bit quantisation: floor(255·x + 0.5) / 255.
The per-image scalars (s, a, b, the JPEG coin and quality) are drawn first in that order and the
noise field always, so switching a step off never changes the other draws. The sharp target is
step 7 alone: the gamma round trip of steps 1 and 5 is the identity (to 1e-6), so the pair stays
aligned, and random kernels have their centre of mass on their centre pixel, so blur shifts nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NoReturn

import cv2
import numpy as np

from ..errors import InputArrayError, TrainingError
from ..files import quantize
from .kernels import line_kernel, line_trajectory, rasterize, shake_trajectory

__all__ = [
    "SynthConfig",
    "degrade",
    "line_kernel",
    "linear_to_srgb",
    "random_kernel",
    "srgb_to_linear",
    "synthesize_pair",
]

_RANGE_FIELDS = (
    "exposure",
    "saturation_boost",
    "shot_noise",
    "read_noise",
    "jpeg_quality",
)


@dataclass(frozen=True)
class SynthConfig:
    """Every knob of the synthetic pipeline; field names are the keys of `[data.synthetic]`.

    Ranges are (min, max) pairs drawn uniformly per sample; min == max fixes the value.
    Lengths are path lengths in pixels of the exposed part of the trajectory, drawn uniformly in
    [min_length, max_length]; a path that does not fit the kernel is shrunk about its centroid.
    """

    kernel_size: int = 31  # odd; every kernel is kernel_size×kernel_size
    min_length: float = 3.0
    max_length: float = 25.0  # mild ~5, moderate ~15, strong ~25+ (with kernel_size 31+)
    line_probability: float = 0.1  # 0: camera shake only, 1: straight lines only
    inertia: float = 0.85  # share of the previous heading kept at each step, in [0, 1]
    jerk_probability: float = 0.3  # chance that a trajectory has at least one abrupt shake
    exposure: tuple[float, float] = (0.5, 1.0)  # fraction of the shake the shutter sees
    saturation_threshold: float = 0.98  # sRGB; pixels at or above it are boosted
    saturation_boost: tuple[float, float] = (1.5, 3.0)  # (1, 1) turns the boost off
    shot_noise: tuple[float, float] = (0.0, 0.005)  # a: variance per unit of linear signal
    read_noise: tuple[float, float] = (0.0, 0.01)  # b: standard deviation, linear light
    jpeg_probability: float = 0.3
    jpeg_quality: tuple[int, int] = (60, 95)

    def __post_init__(self) -> None:
        for name in _RANGE_FIELDS:  # TOML arrays arrive as lists
            value = getattr(self, name)
            if not (isinstance(value, (tuple, list)) and len(value) == 2):
                _fail(name, "must be a [min, max] pair", value)
            if not all(_is_number(v) for v in value):
                _fail(name, "must hold two numbers", value)
            if value[0] > value[1]:
                _fail(name, "must have min <= max", value)
            object.__setattr__(self, name, tuple(value))
        size = self.kernel_size
        if not (isinstance(size, int) and not isinstance(size, bool) and size >= 3 and size % 2):
            _fail("kernel_size", "must be an odd integer >= 3", size)
        _check_number(self, "min_length", 0.0, math.inf)
        _check_number(self, "max_length", self.min_length, math.inf)
        _check_number(self, "line_probability", 0.0, 1.0)
        _check_number(self, "inertia", 0.0, 1.0)
        _check_number(self, "jerk_probability", 0.0, 1.0)
        _check_range(self, "exposure", 0.0, 1.0, open_low=True)
        _check_number(self, "saturation_threshold", 0.0, 1.0, open_low=True)
        _check_range(self, "saturation_boost", 1.0, math.inf)
        _check_range(self, "shot_noise", 0.0, math.inf)
        _check_range(self, "read_noise", 0.0, math.inf)
        _check_number(self, "jpeg_probability", 0.0, 1.0)
        if not all(isinstance(q, int) and not isinstance(q, bool) for q in self.jpeg_quality):
            _fail("jpeg_quality", "must hold two integers", self.jpeg_quality)
        _check_range(self, "jpeg_quality", 1, 100)


def _fail(name: str, rule: str, value: object) -> NoReturn:
    raise TrainingError(f"synthetic config: {name} {rule}, got {value!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_number(
    cfg: SynthConfig, name: str, low: float, high: float, *, open_low: bool = False
) -> None:
    value = getattr(cfg, name)
    if not _is_number(value):
        _fail(name, "must be a finite number", value)
    if value < low or value > high or (open_low and value == low):
        bracket = "(" if open_low else "["
        _fail(name, f"must be in {bracket}{low}, {high}]", value)


def _check_range(
    cfg: SynthConfig, name: str, low: float, high: float, *, open_low: bool = False
) -> None:
    lo, hi = getattr(cfg, name)
    if lo < low or hi > high or (open_low and lo == low):
        bracket = "(" if open_low else "["
        _fail(name, f"must lie in {bracket}{low}, {high}]", getattr(cfg, name))


def random_kernel(rng: np.random.Generator, cfg: SynthConfig) -> np.ndarray:
    """A kernel_size×kernel_size float32 blur kernel: a straight line with probability
    `line_probability`, otherwise a camera-shake trajectory; non-negative, sums to 1, centre
    of mass on the centre pixel."""
    is_line = rng.random() < cfg.line_probability
    length = float(rng.uniform(cfg.min_length, cfg.max_length))
    if is_line:
        angle = float(rng.uniform(0.0, 180.0))
        path = line_trajectory(min(length, cfg.kernel_size - 1.0), angle)
    else:
        path = shake_trajectory(
            rng,
            length=length,
            inertia=cfg.inertia,
            jerk_probability=cfg.jerk_probability,
            exposure=float(rng.uniform(*cfg.exposure)),
        )
    return rasterize(path, cfg.kernel_size)


def _power(x: np.ndarray, exponent: float) -> np.ndarray:
    # cv2.pow is ~5x faster than np.power on float32 (abs. error < 3e-7 on [0, 1]).
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, 1)
    return cv2.pow(flat, exponent).reshape(x.shape)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding (linear segment below 0.04045); input clipped to [0, 1]."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    curve = _power((x + np.float32(0.055)) / np.float32(1.055), 2.4)
    out: np.ndarray = np.where(x <= np.float32(0.04045), x / np.float32(12.92), curve)
    return out


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB encoding (linear segment below 0.0031308); input clipped to [0, 1]."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    curve = np.float32(1.055) * _power(x, 1.0 / 2.4) - np.float32(0.055)
    out: np.ndarray = np.where(x <= np.float32(0.0031308), x * np.float32(12.92), curve)
    return out


def _check_image(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputArrayError(f"synthetic: expected an H×W×3 RGB image, got shape {image.shape}")
    return np.asarray(image, dtype=np.float32)


def _quantize8(srgb: np.ndarray) -> np.ndarray:
    levels: np.ndarray = quantize(srgb).astype(np.float32) / np.float32(255.0)
    return levels


def _boost_highlights(
    linear: np.ndarray, srgb: np.ndarray, threshold: float, s: float
) -> np.ndarray:
    if s == 1.0 or float(srgb.max()) < threshold:  # most crops have no clipped pixel
        return linear
    # np.maximum over channel planes: a reduction along the last axis is ~10x slower.
    peak = np.maximum(np.maximum(srgb[:, :, 0], srgb[:, :, 1]), srgb[:, :, 2])
    bright = peak >= np.float32(threshold)
    boosted: np.ndarray = linear.copy()
    boosted[bright] *= np.float32(s)
    return boosted


def _convolve(linear: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    # filter2D correlates; flipping the kernel makes it a true convolution. Cropping to the
    # support (kept around the centre, which becomes the anchor) lets mild blurs take
    # OpenCV's direct path instead of a full-size DFT.
    flipped = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32)
    cy, cx = flipped.shape[0] // 2, flipped.shape[1] // 2
    rows = np.flatnonzero(flipped.any(axis=1))
    cols = np.flatnonzero(flipped.any(axis=0))
    if rows.size == 0:
        return np.zeros_like(linear)
    y0, y1 = min(int(rows[0]), cy), max(int(rows[-1]), cy) + 1
    x0, x1 = min(int(cols[0]), cx), max(int(cols[-1]), cx) + 1
    support = np.ascontiguousarray(flipped[y0:y1, x0:x1])
    return cv2.filter2D(
        linear, -1, support, anchor=(cx - x0, cy - y0), borderType=cv2.BORDER_REFLECT
    )


def _jpeg_round_trip(srgb: np.ndarray, quality: int) -> np.ndarray:
    bgr = np.ascontiguousarray(quantize(srgb)[:, :, ::-1])
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:
        raise InputArrayError(f"synthetic: JPEG round trip at quality {quality} failed")
    rgb: np.ndarray = decoded[:, :, ::-1].astype(np.float32) / np.float32(255.0)
    return rgb


def degrade(
    sharp: np.ndarray, kernel: np.ndarray, rng: np.random.Generator, cfg: SynthConfig
) -> np.ndarray:
    """Blur, noise and compress a float32 H×W×3 sRGB image in [0, 1] (the module docstring's
    steps 1-7); returns a float32 H×W×3 image on the 8-bit grid."""
    image = _check_image(sharp)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise InputArrayError(
            f"synthetic: kernel must be 2-D with odd sides, got shape {kernel.shape}"
        )
    boost = float(rng.uniform(*cfg.saturation_boost))
    shot = float(rng.uniform(*cfg.shot_noise))
    read = float(rng.uniform(*cfg.read_noise))
    use_jpeg = bool(rng.random() < cfg.jpeg_probability)
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1], endpoint=True))
    noise = rng.standard_normal(image.shape, dtype=np.float32)

    linear = _boost_highlights(srgb_to_linear(image), image, cfg.saturation_threshold, boost)
    blurred = np.clip(_convolve(linear, kernel), 0.0, 1.0)
    sigma = np.sqrt(np.float32(shot) * blurred + np.float32(read * read))
    noisy = np.clip(blurred + sigma * noise, 0.0, 1.0)
    srgb = linear_to_srgb(noisy)
    if use_jpeg:
        srgb = _jpeg_round_trip(srgb, quality)
    return _quantize8(srgb)


def synthesize_pair(
    sharp: np.ndarray, rng: np.random.Generator, cfg: SynthConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(blurred, sharp target, kernel) from a float32 H×W×3 sRGB image in [0, 1].

    The target is the input on the 8-bit grid (the same gamma round trip, no blur or noise), so
    it is pixel-aligned with the blurred image.
    """
    image = _check_image(sharp)
    kernel = random_kernel(rng, cfg)
    return degrade(image, kernel, rng, cfg), _quantize8(image), kernel
