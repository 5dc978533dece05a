"""End-to-end seconds per image of `benchmark --speed`: read -> tiles -> model -> blend, timed
with no scoring running (protocols §5.3)."""

from __future__ import annotations

import statistics
import time

import numpy as np

from ..datasets import Dataset
from ..files import read_rgb
from ..inference import Restorer

SPEED_IMAGES = 20  # --speed times at most this many images per model x tile setting


def time_restores(
    restorer: Restorer, dataset: Dataset, images: int = SPEED_IMAGES
) -> tuple[float, int]:
    """Median seconds of read -> tiles -> model -> blend over the first `images` pairs, after
    one untimed warm-up image (first-call allocations, cuDNN autotuning)."""
    pairs = dataset.pairs[:images]
    samples: list[float] = []
    for i, pair in enumerate([pairs[0], *pairs]):
        start = time.perf_counter()
        blurry = read_rgb(pair.blur).astype(np.float32) / 255
        restorer.restore(blurry)
        if i:
            samples.append(time.perf_counter() - start)
    return statistics.median(samples), len(samples)
