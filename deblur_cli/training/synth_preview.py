"""`deblur train synth-preview`: a contact sheet of the synthetic pairs a recipe would train on,
from a folder of sharp photos, written with the project's image writer.

Only a window of each photo around what the sheet shows is kept in memory (2 × crop at the
recipe's scale), so folders of 12-megapixel photos preview in bounded memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..datasets import read_rgb
from .config import DataSection
from .data import find_photos, pad_to, random_window


@dataclass(frozen=True)
class PreviewResult:
    path: Path
    samples: int
    photos: int
    crop: int


def _window(
    photo: np.ndarray, side: int, scale: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """A side×side float32 window of the photo, downscaled by a factor drawn from `scale`."""
    s = float(rng.uniform(*scale)) if scale[0] < scale[1] else scale[0]
    region = max(min(math.ceil(side / s), max(photo.shape[:2])), side)
    top, left = random_window(photo.shape, region, rng)
    window = pad_to(photo, top + region, left + region)[top : top + region, left : left + region]
    if region != side:
        window = cv2.resize(window, (side, side), interpolation=cv2.INTER_AREA)
    return window.astype(np.float32) / np.float32(255.0)


def write_synth_preview(
    folder: Path, output: Path, data: DataSection, *, n: int = 16, crop: int = 256, seed: int = 0
) -> PreviewResult:
    """Sample n pairs with `[data.synthetic]` of `data` from photos under `folder`; write the
    sheet (kernel | blurred | sharp per row) to `output`."""
    from ..files import write_image
    from .preview import make_contact_sheet
    from .synthetic import SynthConfig

    photos = find_photos(folder)
    rng = np.random.default_rng(seed)
    chosen = [
        photos[i] for i in sorted(rng.choice(len(photos), size=min(n, len(photos)), replace=False))
    ]
    windows = [_window(read_rgb(p), 2 * crop, data.scale, rng) for p in chosen]
    sheet = make_contact_sheet(windows, rng, SynthConfig(**data.synthetic), n, crop)
    path = write_image(output, sheet)
    return PreviewResult(Path(path), n, len(chosen), crop)
