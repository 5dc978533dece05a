"""Restoring images with a loaded model: device, precision, padding or tiling, TTA and resizing.

The flow is image (H×W×3 float32 in [0, 1]) -> tensor -> tiles -> model -> tiles -> image.
Everything model-specific comes from the registry entry (`ModelSpec`); nothing here branches on
a model name. No printing: results are dataclasses, failures typed errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from .errors import DeblurError
from .models import ModelSpec
from .tiles import plan_tiles, tiled_forward

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class RestoreError(DeblurError):
    """An image that could not be restored (e.g. out of memory even with small tiles)."""


@dataclass(frozen=True)
class TileSettings:
    """How an image is cut: `tile` 0 = whole image (padded to the size multiple)."""

    tile: int
    overlap: int
    tile_batch: int = 1
    placement: str = "even"  # "even" (default) or "seed" (the seed's rule, for reproduction)
    blend: str = "cosine"  # "cosine" (default) or "hamming" (the seed's window)
    margin: int = 0


@dataclass(frozen=True)
class RestoreStats:
    seconds: float
    tiles: int
    tile: int
    overlap: int
    device: str
    precision: str
    input_size: tuple[int, int]  # (H, W) of the image given
    restored_size: tuple[int, int]  # (H, W) actually restored (smaller with resize_long)
    retries: int  # out-of-memory retries with smaller tiles


def resolve_device(device: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit device must exist."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeblurError("device 'cuda' requested but no CUDA GPU is available")
    if device == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise DeblurError("device 'mps' requested but MPS is not available")
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise DeblurError(f"unknown device '{device}' (use auto, cpu, cuda or mps)")
    return torch.device(device)


_ALLOCATOR_TUNED = False


def keep_freed_memory() -> bool:
    """Make glibc keep freed large blocks for reuse instead of returning them to the OS.

    A CPU forward allocates and frees hundreds of MB of activations; with glibc's defaults every
    block above the mmap threshold is mapped and unmapped again, so each forward pays for fresh
    zeroed pages. Raising the mmap and trim thresholds measured 1.46x faster for CE-MLWNet on a
    512x512 tile (2 cores), for about 20% more peak RSS. Process-wide and idempotent; a no-op
    outside glibc or with DEBLUR_KEEP_FREED_MEMORY=0. Returns whether the setting is active.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    import os
    import sys

    if os.environ.get("DEBLUR_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc malloc.h
        ok = libc.mallopt(m_mmap_threshold, 1 << 30) == 1
        ok = ok and libc.mallopt(m_trim_threshold, (1 << 31) - 1) == 1
    except (OSError, AttributeError):
        return False
    _ALLOCATOR_TUNED = ok
    return ok


def to_channels_last(model: nn.Module) -> nn.Module:
    """Store every 4-D parameter channels_last, in place (`Module.to(memory_format=...)` refuses
    models with 5-D parameters such as the DFFN spectral gains)."""
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 4:
                param.data = param.data.contiguous(memory_format=torch.channels_last)
    return model


def default_tile_batch(tile: int, device: torch.device) -> int:
    """4 tiles a forward on GPU; on CPU as many as fit a 512x512 forward (measured: 4 tiles of
    256 run 10% faster per tile than 1, while 4 tiles of 512 run 1.7x slower per tile)."""
    if device.type != "cpu":
        return 4
    return max(1, min(4, (512 * 512) // max(tile * tile, 1))) if tile else 1


def default_tiles(spec: ModelSpec, device: torch.device) -> TileSettings:
    """The seed's best tile setting for the model (protocols §4)."""
    return resolve_tiles(spec, device)


def resolve_tiles(
    spec: ModelSpec,
    device: torch.device,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    tile_batch: int | None = None,
    blend: str = "cosine",
    placement: str = "even",
) -> TileSettings:
    """The registry's tile setting with the user's choices applied; a tile given without an
    overlap gets half the tile as overlap, `tile` 0 means the whole image."""
    size = spec.default_tile if tile is None else tile
    if overlap is None:
        overlap = spec.default_overlap if tile is None else size // 2
    if size < 0 or overlap < 0:
        raise DeblurError("tile and overlap must not be negative")
    if size and overlap >= size:
        raise DeblurError(f"overlap {overlap} must be smaller than the tile {size}")
    return TileSettings(
        tile=size,
        overlap=overlap if size else 0,
        tile_batch=tile_batch or default_tile_batch(size, device),
        placement=placement,
        blend=blend,
    )


# The eight flips/transposes of the x8 self-ensemble, as (transpose, flip_h, flip_w).
_TTA = [(t, fh, fw) for t in (False, True) for fh in (False, True) for fw in (False, True)]


def _augment(x: torch.Tensor, t: bool, fh: bool, fw: bool) -> torch.Tensor:
    if t:
        x = x.transpose(-2, -1)
    dims = [d for d, on in ((-2, fh), (-1, fw)) if on]
    return x.flip(dims) if dims else x


def _deaugment(x: torch.Tensor, t: bool, fh: bool, fw: bool) -> torch.Tensor:
    dims = [d for d, on in ((-2, fh), (-1, fw)) if on]
    x = x.flip(dims) if dims else x
    return x.transpose(-2, -1) if t else x


class Restorer:
    """Owns a model on a device at a precision and restores images with it.

    Args:
        model: a network from `deblur_cli.models.create` (weights loaded).
        spec: its registry entry (size multiple, defaults).
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        precision: "fp32", "bf16" or "fp16", applied through autocast (never `.half()`: the
            FFT paths of FFTformer/HybridNet run in fp32, architectures §10).
        tiles: tile settings; None = the model's defaults.
        tta: x8 flip/transpose self-ensemble (8x the cost).
        channels_last: run in channels_last memory format; None = on for CPU, where it was
            measured 1.2-1.4x faster (oneDNN depthwise convs, copy-free channel LayerNorm).
    """

    def __init__(
        self,
        model: nn.Module,
        spec: ModelSpec,
        *,
        device: str = "auto",
        precision: str = "fp32",
        tiles: TileSettings | None = None,
        tta: bool = False,
        channels_last: bool | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise DeblurError(f"unknown precision '{precision}' (use fp32, bf16 or fp16)")
        if precision not in spec.precisions:
            raise DeblurError(f"{spec.name} does not support {precision}")
        self.spec = spec
        self.device = resolve_device(device)
        self.precision = precision
        self.tiles = tiles or default_tiles(spec, self.device)
        self.tta = tta
        self.channels_last = self.device.type == "cpu" if channels_last is None else channels_last
        self.model = model.eval().to(self.device)
        if self.device.type == "cpu":
            keep_freed_memory()
        if self.channels_last:
            to_channels_last(self.model)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        dtype = PRECISIONS[self.precision]
        autocast = (
            torch.autocast(self.device.type, dtype=dtype) if dtype is not None else nullcontext()
        )
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast:
            out = self.model(batch)
        out = out[0] if isinstance(out, (tuple, list)) else out
        return out.float()

    def _run(
        self, x: torch.Tensor, tiles: TileSettings, progress: Callable[[int, int], None] | None
    ) -> torch.Tensor:
        return tiled_forward(
            x,
            self._forward,
            tile=tiles.tile,
            overlap=tiles.overlap,
            size_multiple=self.spec.size_multiple,
            tile_batch=tiles.tile_batch,
            placement=tiles.placement,  # type: ignore[arg-type]
            blend=tiles.blend,  # type: ignore[arg-type]
            margin=tiles.margin,
            progress=progress,
        )

    def restore_tensor(
        self,
        x: torch.Tensor,
        tiles: TileSettings | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """Restore a 1×3×H×W float tensor (any H, W); returns 1×3×H×W float32, unclamped."""
        tiles = tiles or self.tiles
        with torch.inference_mode():
            x = x.to(self.device, torch.float32)
            if not self.tta:
                return self._run(x, tiles, progress)
            acc = torch.zeros_like(x)
            for i, aug in enumerate(_TTA):
                inner = None
                if progress is not None:

                    def inner(done: int, total: int, i: int = i) -> None:
                        progress(i * total + done, total * len(_TTA))

                acc += _deaugment(self._run(_augment(x, *aug), tiles, inner), *aug)
            return acc / len(_TTA)

    def count_tiles(self, height: int, width: int, tiles: TileSettings | None = None) -> int:
        tiles = tiles or self.tiles
        if tiles.tile == 0:
            n = 1
        else:
            n = plan_tiles(
                height, width, tiles.tile, tiles.overlap,
                size_multiple=self.spec.size_multiple, placement=tiles.placement,  # type: ignore[arg-type]
            ).count  # fmt: skip
        return n * (len(_TTA) if self.tta else 1)

    def restore(
        self,
        image: np.ndarray,
        *,
        resize_long: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, RestoreStats]:
        """Restore an H×W×3 float32 RGB image in [0, 1]; returns the image clipped to [0, 1].

        With `resize_long`, images whose long side exceeds it are downscaled (area
        interpolation) first and restored at the smaller size. On a CUDA out-of-memory error the
        image is retried with half the tile size, down to twice the size multiple.
        """
        h, w = image.shape[:2]
        if resize_long is not None and max(h, w) > resize_long:
            image = resize_to_long_side(image, resize_long)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        tiles, retries = self.tiles, 0
        start = time.perf_counter()
        while True:
            try:
                out = self.restore_tensor(x, tiles, progress)
                break
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                smaller = _smaller_tiles(tiles, image.shape[:2], self.spec.size_multiple)
                if smaller is None:
                    raise RestoreError(
                        f"out of GPU memory even with {tiles.tile or 'whole-image'} tiles; "
                        "try --device cpu or a smaller --tile"
                    ) from None
                tiles, retries = smaller, retries + 1
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        with torch.inference_mode():
            result = out[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        stats = RestoreStats(
            seconds=seconds,
            tiles=self.count_tiles(*image.shape[:2], tiles),
            tile=tiles.tile,
            overlap=tiles.overlap,
            device=self.device.type,
            precision=self.precision,
            input_size=(h, w),
            restored_size=image.shape[:2],
            retries=retries,
        )
        return result, stats


def _smaller_tiles(
    tiles: TileSettings, size: tuple[int, int], multiple: int
) -> TileSettings | None:
    current = tiles.tile or max(size)
    new = (current // 2) // multiple * multiple
    if new < 2 * multiple:
        return None
    overlap = min(tiles.overlap, new // 2) if tiles.tile else new // 4
    return replace(tiles, tile=new, overlap=overlap, tile_batch=1)


def resize_to_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def restore_image(
    model: nn.Module,
    image: np.ndarray,
    *,
    tile: int,
    overlap: int,
    spec: ModelSpec | None = None,
    tile_batch: int = 1,
    placement: str = "even",
    blend: str = "cosine",
    device: str = "cpu",
    precision: str = "fp32",
) -> np.ndarray:
    """One-call restore of an H×W×3 float32 image in [0, 1] (see `Restorer` for options).

    `spec` defaults to the registry entry the model was created from.
    """
    if spec is None:
        from .models import get_spec

        spec = get_spec(getattr(model, "arch_name", type(model).__name__))
    tiles = TileSettings(tile, overlap, tile_batch, placement, blend)
    restorer = Restorer(model, spec, device=device, precision=precision, tiles=tiles)
    return restorer.restore(image)[0]
