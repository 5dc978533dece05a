"""Validation during training: the held-out part of the train list (never the test split,
§3.6 bug 4), scored with the dataset's real metric: RealBlur's ECC-aligned PSNR/SSIM (§1.1),
plain PSNR for GoPro, paired folders and synthetic pairs (§1.3).

Images are run whole (padded to the size multiple) or as centre crops (`data.val_crop`); under
DDP each rank scores its share and the sums are reduced.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets import Pair, read_rgb
from .config import DataSection
from .data import VAL_SAMPLE, PhotoCache, SyntheticCrops, TrainingData, sample_rng, synthesize_crop


@dataclass(frozen=True)
class ValResult:
    """Mean scores over `images` held-out images; `ssim` only for the RealBlur protocol."""

    psnr: float
    ssim: float | None
    images: int
    seconds: float
    protocol: str  # "realblur-ecc" or "psnr"


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    if size <= 0:
        return image
    h, w = image.shape[:2]
    top, left = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return image[top : top + size, left : left + size]


def _spread(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n) (all of them when k is 0 or >= n)."""
    if k <= 0 or k >= n:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, k).round()})


class ValidationSet:
    """The images validation scores: `load(i)` -> (blur uint8, sharp uint8), H×W×3 RGB."""

    def __init__(self, data: TrainingData, section: DataSection, seed: int) -> None:
        self.align = data.dataset.startswith("realblur")
        self.crop = section.val_crop
        chosen = [data.val[i] for i in _spread(len(data.val), section.val_images)]
        self.pairs: list[Pair] = []
        self.synthetic: list[tuple[np.ndarray, np.ndarray]] = []
        if data.kind == "synthetic":
            self.synthetic = _synthetic_pairs(chosen, section, seed)
        else:
            self.pairs = list(chosen)

    def __len__(self) -> int:
        return len(self.synthetic) or len(self.pairs)

    @property
    def protocol(self) -> str:
        return "realblur-ecc" if self.align else "psnr"

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self.synthetic:
            return self.synthetic[i]
        pair = self.pairs[i]
        return centre_crop(read_rgb(pair.blur), self.crop), centre_crop(
            read_rgb(pair.sharp), self.crop
        )


def _synthetic_pairs(
    photos: Sequence[Path], section: DataSection, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    # Fixed pairs made once (uint8: both sides are on the 8-bit grid already), from generators
    # seeded apart from the training samples, so every validation scores the same images.
    crop = section.val_crop or 2 * section.crop
    source = SyntheticCrops(photos, section, crop, seed)
    source.cache = PhotoCache(0)
    out = []
    for i, photo in enumerate(photos):
        blur, sharp = synthesize_crop(
            read_rgb(photo), source, crop, sample_rng(seed, VAL_SAMPLE, i), augment=False
        )
        out.append(
            tuple(
                (t.numpy().transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8) for t in (blur, sharp)
            )
        )
    return out


def restore_whole(
    model: nn.Module, image: np.ndarray, size_multiple: int, device: torch.device,
    autocast: Callable[[], AbstractContextManager[None]],
) -> np.ndarray:  # fmt: skip
    """Run `model` on a whole H×W×3 uint8 image, mirror-padded to the size multiple; returns
    float32 H×W×3 clipped to [0, 1]."""
    x = (
        torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(device)[None].float()
        / 255
    )
    h, w = image.shape[:2]
    ph, pw = -h % size_multiple, -w % size_multiple
    mode = "reflect" if ph < h and pw < w else "replicate"
    with torch.inference_mode(), autocast():
        out = model(F.pad(x, (0, pw, 0, ph), mode=mode) if ph or pw else x)
        out = out[0] if isinstance(out, (tuple, list)) else out
        return out[0, :, :h, :w].float().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)


def validate(
    model: nn.Module,
    images: ValidationSet,
    *,
    size_multiple: int,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager[None]],
    rank: int = 0,
    world: int = 1,
    reduce_sum: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> ValResult:
    """Mean PSNR (and SSIM for RealBlur) of `model` in eval mode over the validation images."""
    from ..metrics import psnr, score_realblur

    start = time.perf_counter()
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64)
    try:
        for i in range(rank, len(images), world):
            blur, sharp = images.load(i)
            pred = restore_whole(model, blur, size_multiple, device, autocast)
            if images.align:
                score = score_realblur(pred, sharp)
                sums += torch.tensor([score.psnr, score.ssim, 1.0], dtype=torch.float64)
            else:
                sums += torch.tensor([min(psnr(pred, sharp), 100.0), 0.0, 1.0], dtype=torch.float64)
    finally:
        model.train(was_training)
    if reduce_sum is not None:
        sums = reduce_sum(sums)
    n = max(int(sums[2]), 1)
    return ValResult(
        psnr=float(sums[0]) / n,
        ssim=float(sums[1]) / n if images.align else None,
        images=int(sums[2]),
        seconds=time.perf_counter() - start,
        protocol=images.protocol,
    )
