"""Fake training data for the `deblur train` tests: a RealBlur-J tree in the official layout
with train and test lists (datasets.md §1, §6), a paired folder, a folder of sharp photos, and
the `--set` overrides that make any recipe tiny enough for a CPU test."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

REALBLUR_J = "RealBlur-J_ECC_IMCORR_centroid_itensity_ref"

# dim 8, 32-px crops, batch 2, no workers, nothing that scales with the recipe's real length
TINY = (
    "model.dim=8",
    "data.crop=32",
    "data.batch=2",
    "data.workers=0",
    "train.global_batch=0",
    "train.save_every=1000",
    "train.log_every=1",
)


def smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth textured uint8 RGB: upsampled noise (gradients for ECC and for the network)."""
    rng = np.random.default_rng(seed)
    low = rng.random((h // 6 + 2, w // 6 + 2, 3)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    img = (img - img.min()) / (img.max() - img.min())
    return np.floor(img * 255 + 0.5).astype(np.uint8)


def blurred(img: np.ndarray, dx: float = 1.0, radius: int = 1) -> np.ndarray:
    """A shifted, Gaussian-blurred copy (a stand-in for motion blur)."""
    h, w = img.shape[:2]
    m = np.float32([[1, 0, dx], [0, 1, 0]])
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return cv2.GaussianBlur(out, (2 * radius + 1, 2 * radius + 1), 0)


def write_rgb(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(img[..., ::-1]))
    return path


def _list_bytes(lines: list[str]) -> bytes:
    # the published byte format: trailing space on every line but the last, no final newline
    return " \n".join(lines).encode()


def make_realblur_j(
    root: Path, scenes: int = 3, per_scene: int = 2, size: tuple[int, int] = (40, 48)
) -> Path:
    """`scenes` train scenes (scene001…) of `per_scene` pairs each, sizes varying per scene
    (some smaller than a 48-px crop), plus a one-scene test list. Returns root."""
    lines: dict[str, list[str]] = {"train": [], "test": []}
    for s in range(scenes + 1):
        split = "test" if s == scenes else "train"
        scene = f"scene{s + 1:03d}"
        h, w = size[0] + 8 * (s % 2), size[1] - 8 * (s % 2)
        for i in range(1, per_scene + 1):
            gt = smooth_image(h, w, seed=100 * s + i)
            base = f"{REALBLUR_J}/{scene}"
            write_rgb(root / base / "gt" / f"gt_{i}.png", gt)
            write_rgb(root / base / "blur" / f"blur_{i}.png", blurred(gt))
            lines[split].append(f"{base}/gt/gt_{i}.png {base}/blur/blur_{i}.png")
    for split, entries in lines.items():
        (root / f"RealBlur_J_{split}_list.txt").write_bytes(_list_bytes(entries))
    return root


def make_paired(root: Path, n: int = 1, size: tuple[int, int] = (32, 32), seed: int = 0) -> Path:
    """`blur/` + `sharp/` with n pairs."""
    for i in range(n):
        sharp = smooth_image(*size, seed=seed + i)
        write_rgb(root / "sharp" / f"{i}.png", sharp)
        write_rgb(root / "blur" / f"{i}.png", blurred(sharp, dx=0.0, radius=2))
    return root


def make_photos(root: Path, n: int = 4, size: tuple[int, int] = (72, 96)) -> Path:
    """A folder of sharp 'photos' (one nested, one smaller than typical crops)."""
    for i in range(n):
        h, w = size if i else (40, 40)
        sub = root / "nested" if i == 1 else root
        write_rgb(sub / f"photo_{i}.png", smooth_image(h, w, seed=500 + i))
    return root
