"""Fake datasets in the official layouts (datasets.md §6) and plausible predictions for them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from deblur_cli.datasets import REALBLUR_FOLDERS, Pair, read_rgb

REALBLUR_SIZES = {"scene001": (70, 64), "scene002": (64, 80)}  # H×W, not multiples of 16


def smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth textured uint8 RGB image: upsampled noise, so ECC has gradients to follow."""
    rng = np.random.default_rng(seed)
    low = rng.random((h // 6 + 2, w // 6 + 2, 3)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    img = (img - img.min()) / (img.max() - img.min())
    return np.floor(img * 255 + 0.5).astype(np.uint8)


def shifted(img: np.ndarray, dx: float, dy: float, blur: int = 0) -> np.ndarray:
    h, w = img.shape[:2]
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return cv2.GaussianBlur(out, (2 * blur + 1, 2 * blur + 1), 0) if blur else out


def write_rgb(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(img[..., ::-1]))
    return path


def official_list_bytes(lines: list[str], crlf: bool = False) -> bytes:
    """The published byte format: trailing space on every line but the last, no final newline."""
    eol = " \r\n" if crlf else " \n"
    return eol.join(lines).encode()


def make_realblur(root: Path, variant: str = "J", n: int = 2) -> list[str]:
    """RealBlur-`variant` tree with scenes 001/002, N = 1..n, and its test list. Returns the
    list lines (GT first)."""
    name = "realblur-j" if variant == "J" else "realblur-r"
    folder = REALBLUR_FOLDERS[name]
    lines = []
    for k, (scene, (h, w)) in enumerate(REALBLUR_SIZES.items()):
        for i in range(1, n + 1):
            gt = smooth_image(h, w, seed=10 * k + i)
            write_rgb(root / folder / scene / "gt" / f"gt_{i}.png", gt)
            write_rgb(root / folder / scene / "blur" / f"blur_{i}.png", shifted(gt, 1.5, -1, 1))
            lines.append(f"{folder}/{scene}/gt/gt_{i}.png {folder}/{scene}/blur/blur_{i}.png")
    (root / f"RealBlur_{variant}_test_list.txt").write_bytes(official_list_bytes(lines))
    return lines


def make_gopro(root: Path, frames: int = 2) -> None:
    for split, seqs in (
        ("train", ["GOPR0001_00_00"]),
        ("test", ["GOPR0384_11_00", "GOPR0862_11_00"]),
    ):
        for s, seq in enumerate(seqs):
            for f in range(1, frames + 1):
                sharp = smooth_image(48, 64, seed=100 + 10 * s + f)
                name = f"{f:06d}.png"
                write_rgb(root / split / seq / "sharp" / name, sharp)
                write_rgb(root / split / seq / "blur" / name, shifted(sharp, 0.5, 0.5, 1))
                write_rgb(root / split / seq / "blur_gamma" / name, shifted(sharp, 0.5, 0.5, 2))


def make_paired(root: Path) -> None:
    """blur/ + sharp/ with one unmatched file, one nested file, one .jpg<->.png pair, and
    names that sort differently naturally (2 < 10)."""
    for stem in ("2", "10", "a"):
        img = smooth_image(40, 52, seed=len(stem) + ord(stem[0]))
        write_rgb(root / "sharp" / f"{stem}.png", img)
        write_rgb(root / "blur" / f"{stem}.png", shifted(img, 1, 0))
    img = smooth_image(40, 52, seed=7)
    write_rgb(root / "sharp" / "sub" / "b.png", img)
    write_rgb(root / "blur" / "sub" / "b.jpg", shifted(img, 0, 1))
    write_rgb(root / "blur" / "only_blur.png", img)


def fake_prediction(pair: Pair) -> np.ndarray:
    """A plausible restoration: the GT, slightly shifted and noisy, float32 RGB in [0, 1]."""
    gt = read_rgb(pair.sharp)
    rng = np.random.default_rng(len(pair.name) + int(pair.name[-5]))
    out = shifted(gt, 0.6, -0.4).astype(np.float32) / 255
    return np.clip(out + rng.normal(0, 0.01, out.shape).astype(np.float32), 0, 1)


def write_predictions(pairs: list[Pair] | tuple[Pair, ...], folder: Path) -> dict[str, np.ndarray]:
    """8-bit PNGs of `fake_prediction` under the official names, as a method's test script
    saves them. Returns name -> the uint8 image written."""
    written = {}
    for pair in pairs:
        u8 = np.floor(fake_prediction(pair) * 255 + 0.5).astype(np.uint8)
        write_rgb(folder / pair.name, u8)
        written[pair.name] = u8
    return written
