"""Metric protocols (protocols.md §1): reference values, equality with the libraries' own
implementations and with a transcription of the official RealBlur script."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from helpers.metrics import official_realblur
from skimage import data
from skimage.metrics import structural_similarity

from deblur_cli import metrics
from deblur_cli.errors import InputArrayError, InvalidArgumentError
from deblur_cli.files import quantize
from deblur_cli.metrics import (
    ecc_align,
    masked_ssim,
    psnr,
    psnr_realblur,
    score_image,
    score_realblur,
    score_unaligned,
    ssim,
    ssim3d,
    ssim_basicsr2d,
    ssim_realblur,
    ssim_skimage,
)

# --------------------------------------------------------------------------------------
# §1.7 reference values (self-consistency, OpenCV 5.0.0 / skimage 0.26.0)

REFERENCE = {
    # name: (unaligned PSNR, ECC PSNR, ECC SSIM, gain, valid fraction)
    "astronaut": (17.6822, 35.1130, 0.99052, 0.972327, 0.99217),
    "chelsea": (24.1680, 42.9740, 0.99204, 0.991093, 0.98956),
    "coffee": (20.2486, 37.2334, 0.98562, 0.981543, 0.99206),
}


def reference_pair(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """§1.7: GT warped by +0.3° about the centre plus (+2.5, -1.5) px, cubic, reflect,
    clipped and quantised. Returns (prediction float32, GT uint8, true 3×3 warp)."""
    img = getattr(data, name)()
    gt = img.astype(np.float32) / 255
    h, w = gt.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.3, 1.0)
    m[0, 2] += 2.5
    m[1, 2] += -1.5
    pred = cv2.warpAffine(gt, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    pred = np.floor(255 * np.clip(pred, 0, 1) + 0.5) / 255
    return pred.astype(np.float32), img, np.vstack([m, [0, 0, 1]])


def _apply(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_values(name: str) -> None:
    pred, gt, true_warp = reference_pair(name)
    unaligned, want_psnr, want_ssim, want_gain, want_valid = REFERENCE[name]
    score = score_realblur(pred, gt, ecc_iters=100)
    # §1.7 tolerance: ±0.02 dB, ±2e-4 SSIM
    assert score.psnr == pytest.approx(want_psnr, abs=0.02)
    assert score.ssim == pytest.approx(want_ssim, abs=2e-4)
    assert score.gain == pytest.approx(want_gain, abs=1e-5)
    assert score.valid_fraction == pytest.approx(want_valid, abs=1e-4)
    assert psnr(pred, gt) == pytest.approx(unaligned, abs=0.02)
    assert score.ecc_ok is True and 0.9 < score.ecc_cc <= 1.0
    # The recovered GT->prediction warp is the true one to < 0.1 px at the corners (§6.2).
    h, w = gt.shape[:2]
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.float64)
    warp = np.array(score.warp).reshape(3, 3)
    assert np.abs(_apply(warp, corners) - _apply(true_warp, corners)).max() < 0.1


# --------------------------------------------------------------------------------------
# Equality with a straight transcription of the official script (§1.1)


def test_matches_official_script_transcription() -> None:
    gt_u8 = data.chelsea()[::2, ::2]
    gt = gt_u8.astype(np.float32) / 255
    h, w = gt.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -0.4, 1.001)
    m[:, 2] += (1.3, 0.7)
    rng = np.random.default_rng(1)
    noisy = cv2.warpAffine(gt, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    noisy = noisy * 0.97 + rng.normal(0, 0.02, gt.shape).astype(np.float32)
    pred_u8 = quantize(noisy)
    want_psnr, want_ssim = official_realblur(pred_u8.astype(np.float32) / 255, gt)
    got = score_realblur(pred_u8, gt_u8)
    assert got.psnr == pytest.approx(want_psnr, abs=1e-9)
    assert got.ssim == pytest.approx(want_ssim, abs=1e-12)
    assert psnr_realblur(pred_u8, gt_u8) == got.psnr
    assert ssim_realblur(pred_u8, gt_u8) == got.ssim
    # float input is quantised first (§1.1), so it scores like its 8-bit PNG
    assert score_realblur(noisy, gt_u8).psnr == got.psnr
    assert score_realblur(noisy, gt_u8, quantize_pred=False).psnr != got.psnr


# --------------------------------------------------------------------------------------
# SSIM equalities


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masked_ssim_equals_skimage_float64(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = rng.integers(23, 61, size=2)
    x = rng.random((h, w, 3)).astype(np.float32)
    z = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    mask = np.ones((h, w), np.float32)
    mask[: rng.integers(0, 8)] = 0
    mask[:, w - rng.integers(0, 8) :] = 0
    x, z = x * mask[..., None], z * mask[..., None]
    _, smap = structural_similarity(
        x.astype(np.float64),
        z.astype(np.float64),
        channel_axis=-1,
        gaussian_weights=True,
        use_sample_covariance=False,
        data_range=1.0,
        full=True,
    )
    m3 = np.repeat(mask[..., None], 3, axis=2)[5:-5, 5:-5]
    want = np.mean((smap * mask[..., None])[5:-5, 5:-5].sum(axis=(0, 1)) / m3.sum(axis=(0, 1)))
    assert masked_ssim(z, x, mask) == pytest.approx(want, abs=1e-12)


def _random_u8_pair(seed: int, h: int = 27, w: int = 33) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("seed", [0, 1])
def test_gopro_ssim_skimage_convention(seed: int) -> None:
    a, b = _random_u8_pair(seed)
    want = structural_similarity(
        b,
        a,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert ssim_skimage(a, b) == pytest.approx(want, abs=1e-12)
    assert ssim(a, b, "skimage") == ssim_skimage(a, b)
    # the §1.1 formula with a mask of ones is the same maths on float32 [0, 1] data
    # (v/255 in float32 is not exact, hence the looser tolerance)
    assert ssim(a, b, "realblur") == pytest.approx(want, abs=1e-8)


def basicsr_ssim_2d(img1: np.ndarray, img2: np.ndarray) -> float:
    """BasicSR `_ssim` on an H×W×3 array (OpenCV filter2D, 2-D window, 5-px valid crop)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    img1, img2 = img1.astype(np.float64), img2.astype(np.float64)
    k = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(k, k.transpose())
    mu1 = cv2.filter2D(img1, -1, window)[5:-5, 5:-5]
    mu2 = cv2.filter2D(img2, -1, window)[5:-5, 5:-5]
    s1 = cv2.filter2D(img1**2, -1, window)[5:-5, 5:-5] - mu1**2
    s2 = cv2.filter2D(img2**2, -1, window)[5:-5, 5:-5] - mu2**2
    s12 = cv2.filter2D(img1 * img2, -1, window)[5:-5, 5:-5] - mu1 * mu2
    smap = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    return float(smap.mean())


def test_gopro_ssim_basicsr2d_convention() -> None:
    a, b = _random_u8_pair(3, 31, 24)
    assert ssim_basicsr2d(a, b) == pytest.approx(basicsr_ssim_2d(a, b), abs=1e-12)


def ssim3d_torch(img1: np.ndarray, img2: np.ndarray) -> float:
    """NAFNet `_ssim_3d` in float64 on CPU: 11×11×11 Gaussian Conv3d, replicate padding."""
    import torch

    k = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(k, k.transpose())
    kernel = torch.tensor(np.stack([window * v for v in k], axis=0), dtype=torch.float64)
    conv = torch.nn.Conv3d(1, 1, 11, padding=5, bias=False, padding_mode="replicate").double()
    with torch.no_grad():
        conv.weight[0, 0] = kernel

        def g(t: torch.Tensor) -> torch.Tensor:
            return conv(t[None, None])[0, 0]

        x = torch.tensor(img1.astype(np.float64))
        y = torch.tensor(img2.astype(np.float64))
        mu1, mu2 = g(x), g(y)
        s1 = g(x * x) - mu1**2
        s2 = g(y * y) - mu2**2
        s12 = g(x * y) - mu1 * mu2
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        smap = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    return float(smap.mean())


@pytest.mark.parametrize("seed", [0, 5])
def test_gopro_ssim3d_convention(seed: int) -> None:
    a, b = _random_u8_pair(seed, 19, 26)
    got = ssim3d(a, b)
    assert got == pytest.approx(ssim3d_torch(a, b), abs=1e-12)
    assert ssim(a, b) == got  # ssim3d is the default convention
    # a genuinely different convention from the per-channel 2-D one (§1.3)
    assert abs(got - ssim_skimage(a, b)) > 1e-3
    # channel order does not matter (symmetric kernel, symmetric padding)
    assert ssim3d(a[..., ::-1], b[..., ::-1]) == pytest.approx(got, abs=1e-12)
    assert ssim3d(a, a) == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------------------
# PSNR, quantisation, ECC failure, argument errors


def test_psnr_uint8_peak_255() -> None:
    a, b = _random_u8_pair(4)
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-12)
    assert psnr(a, a) == math.inf
    # float predictions are rounded to 8 bits first
    assert psnr(a.astype(np.float32) / 255 + 0.4 / 255, a) == math.inf
    assert psnr(a.astype(np.float32) / 255 + 0.6 / 255, a) < 60


def test_quantize_rounds_half_up_and_clips() -> None:
    v = np.array([-0.2, 0.0, 0.49 / 255, 0.5 / 255, 254.5 / 255, 1.0, 1.7, np.nan], np.float32)
    assert quantize(v).tolist() == [0, 0, 0, 1, 255, 255, 255, 0]
    # bit-identical to the official writers' float32 floor(clip(x) * 255 + 0.5) (§1.1), also
    # on the exact half steps where float64 arithmetic or np.round would differ
    x = np.concatenate([
        np.random.default_rng(0).random(100_000, dtype=np.float32),
        (np.arange(256, dtype=np.float32) + np.float32(0.5)) / np.float32(255),
    ])  # fmt: skip
    official = np.floor(np.clip(x, 0, 1) * np.float32(255) + np.float32(0.5)).astype(np.uint8)
    assert np.array_equal(quantize(x), official)
    # an 8-bit prediction is already quantised: the metrics take it as it is
    u = np.arange(256, dtype=np.uint8)
    assert metrics.as_uint8(u) is u and np.array_equal(metrics.as_uint8(u / 255), u)


def test_ecc_failure_falls_back_to_identity() -> None:
    gt = data.astronaut()[::8, ::8]
    flat = np.full(gt.shape, 0.5, np.float32)  # no gradients: ECC raises cv2.error
    al = ecc_align(flat, gt.astype(np.float32) / 255, iters=10)
    assert al.ecc_ok is False and al.ecc_cc is None
    assert np.array_equal(al.warp, np.eye(3)) and al.mask.min() == 1
    score = score_realblur(flat, gt, ecc_iters=10)
    assert score.ecc_ok is False and math.isfinite(score.psnr)
    # the identity fallback still applies the gain of step 1
    x = gt.astype(np.float32) / 255
    z = quantize(flat).astype(np.float32) / 255
    zs = (np.sum(x * z) / np.sum(z * z)) * z
    want = 10 * np.log10(1 / np.mean((x - zs).astype(np.float64) ** 2))
    assert score.psnr == pytest.approx(want, abs=1e-4)


def test_unaligned_score_and_argument_errors() -> None:
    a, b = _random_u8_pair(6)
    s = score_unaligned(a, b, ssim_variant="basicsr2d")
    assert s.ecc_ok is None and s.warp is None and s.gain is None
    assert s.psnr == psnr(a, b) and s.ssim == ssim_basicsr2d(a, b)
    with pytest.raises(InvalidArgumentError, match="realblur"):
        score_image(a, b, align=True, ssim_variant="ssim3d")
    with pytest.raises(InvalidArgumentError, match="unknown SSIM variant"):
        ssim(a, b, "matlab")
    with pytest.raises(InputArrayError, match="differs"):
        psnr(a, b[:-1])
    with pytest.raises(InputArrayError, match="smaller than"):
        ssim3d(a[:9], b[:9])
    assert set(metrics.library_versions()) >= {"opencv", "scikit-image", "numpy"}
