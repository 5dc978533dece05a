"""Before/after pictures of a restoration: an animated GIF that flips between the blurry and
the restored image, and a still comparison (side by side, or split down the middle).

Inputs are float32 RGB H×W×3 arrays in [0, 1], as `files.read_image` returns them.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..defaults import Compare
from ..errors import ImageError, InputArrayError, InvalidArgumentError
from ..files import atomic_write_bytes, quantize, write_image

COMPARE_MODES: tuple[str, ...] = tuple(mode.value for mode in Compare)


def make_gif(
    blurry: np.ndarray,
    restored: np.ndarray,
    path: str | os.PathLike[str],
    label: str | None = None,
    *,
    duration_ms: int = 800,
    max_side: int | None = 768,
) -> Path:
    """Write a looping two-frame GIF: blurry, then restored.

    With `label`, the restored frame is captioned with it (e.g. the model name) and the
    blurry frame with "blurry" (ASCII only; other characters show as "?"). Frames larger
    than `max_side` on their long side are shrunk (area interpolation) to keep the GIF
    small; None keeps full size.
    """
    _check_pair(blurry, restored)
    frames = [quantize(blurry), quantize(restored)]
    if max_side is not None:
        frames = [_fit(frame, max_side) for frame in frames]
    if label is not None:
        frames = [_caption(frames[0], "blurry"), _caption(frames[1], label)]

    import imageio.v3 as iio

    data = iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=duration_ms, loop=0)
    return atomic_write_bytes(path, data, ImageError)


def make_compare(
    blurry: np.ndarray,
    restored: np.ndarray,
    path: str | os.PathLike[str],
    mode: str = Compare.side_by_side.value,
) -> Path:
    """Write a still comparison, blurry on the left, restored on the right.

    `side-by-side` is H×2W (the two images touching); `split` is H×W with the left half
    from the blurry image, the right half from the restored one and a 1-px white divider
    at column W//2. The format follows the suffix (PNG intended).
    """
    _check_pair(blurry, restored)
    if mode == Compare.side_by_side.value:
        picture = np.concatenate([blurry, restored], axis=1)
    elif mode == Compare.split.value:
        middle = blurry.shape[1] // 2
        picture = np.concatenate([blurry[:, :middle], restored[:, middle:]], axis=1)
        if blurry.shape[1] > 1:
            picture[:, middle] = 1.0
    else:
        raise InvalidArgumentError(f"unknown compare mode {mode!r} (choose from {', '.join(COMPARE_MODES)})")
    return write_image(path, picture)


def _check_pair(blurry: np.ndarray, restored: np.ndarray) -> None:
    if blurry.ndim != 3 or blurry.shape[2] != 3:
        raise InputArrayError(f"expected H×W×3 images, got shape {blurry.shape}")
    if blurry.shape != restored.shape:
        raise InputArrayError(f"image shapes differ: {blurry.shape} vs {restored.shape}")


def _fit(frame: np.ndarray, max_side: int) -> np.ndarray:
    height, width = frame.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return frame
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _caption(frame: np.ndarray, text: str) -> np.ndarray:
    """White text on a dark box in the top-left corner (OpenCV's Hershey font)."""
    text = text.encode("ascii", "replace").decode("ascii")
    frame = frame.copy()
    height = frame.shape[0]
    scale = max(0.35, height / 900)
    thickness = max(1, round(scale * 1.5))
    (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(2, round(4 * scale))
    cv2.rectangle(frame, (0, 0), (text_w + 2 * pad, text_h + baseline + 2 * pad), (0, 0, 0), -1)
    cv2.putText(
        frame,
        text,
        (pad, pad + text_h),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        thickness,
        cv2.LINE_AA,
    )
    return frame
