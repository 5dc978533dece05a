"""Restoring images with a loaded model: input checks, padding or tiling, TTA, resizing and
out-of-memory retries.

The flow is image (H×W×3 float in [0, 1]) -> tensor -> tiles -> model -> tiles -> image.
Everything model-specific comes from the registry entry (`ModelSpec`); nothing here branches on
a model name. No printing: results are dataclasses, failures typed errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
from torch import nn

from ..defaults import Blend, Device, Placement, Precision
from ..errors import InputArrayError, InvalidArgumentError, RestoreError
from ..models import ModelSpec, get_spec
from .runtime import autocast, check_precision, resolve_device, to_channels_last
from .settings import TileSettings, default_tiles
from .tiles import plan_tiles, tiled_forward

Progress = Callable[[int, int], None]

# Values this far outside [0, 1] (one 8-bit step) mean another scale, not rounding noise.
_RANGE_TOLERANCE = 1.0 / 255.0


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

    Constructing one changes no process-wide setting (see `runtime.keep_freed_memory` for the
    allocator choice `deblur restore` makes on CPU); the model is moved to the device and, with
    `channels_last`, its 4-D parameters are re-laid out in place.

    Args:
        model: a network from `deblur_cli.models.create` (weights loaded).
        spec: its registry entry (size multiple, defaults, supported precisions).
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        precision: a name of `defaults.PRECISIONS`, applied through autocast (never `.half()`:
            the FFT paths of FFTformer/HybridNet run in fp32, architectures §10).
        tiles: tile settings; None = the model's defaults.
        tta: x8 flip/transpose self-ensemble (8x the cost).
        channels_last: run in channels_last memory format; None = on for CPU, where it was
            measured 1.2-1.4x faster (oneDNN depthwise convs, copy-free channel LayerNorm).
        engine: a callable that replaces the model's forward (N×3×H×W float in, the restored
            N×3×H×W out), e.g. `export.OnnxEngine` for ONNX Runtime / OpenVINO; it then runs
            as given, without autocast or memory-format changes. None = PyTorch.

    Raises:
        InvalidArgumentError: an unknown device or precision, or one the model does not support.
        RestoreError: a device this machine does not have.
    """

    def __init__(
        self,
        model: nn.Module,
        spec: ModelSpec,
        *,
        device: str = Device.auto.value,
        precision: str = Precision.fp32.value,
        tiles: TileSettings | None = None,
        tta: bool = False,
        channels_last: bool | None = None,
        engine: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        check_precision(precision)
        if precision not in spec.precisions:
            raise InvalidArgumentError(f"{spec.name} does not support precision {precision}")
        self.spec = spec
        self.device = resolve_device(device)
        self.precision = precision
        self.tiles = tiles or default_tiles(spec, self.device)
        self.tta = tta
        self.engine = engine
        self.channels_last = self.device.type == "cpu" if channels_last is None else channels_last
        self.model = model.eval().to(self.device)
        if self.channels_last:
            to_channels_last(self.model)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        if self.engine is not None:
            return self.engine(batch).float().to(batch.device)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(self.device, self.precision):
            out = self.model(batch)
        main: torch.Tensor = out[0] if isinstance(out, (tuple, list)) else out
        return main.float()

    def _run(self, x: torch.Tensor, tiles: TileSettings, progress: Progress | None) -> torch.Tensor:
        return tiled_forward(
            x,
            self._forward,
            tile=tiles.tile,
            overlap=tiles.overlap,
            size_multiple=self.spec.size_multiple,
            tile_batch=tiles.tile_batch,
            placement=tiles.placement,  # type: ignore[arg-type]  # checked by TileSettings
            blend=tiles.blend,  # type: ignore[arg-type]
            margin=tiles.margin,
            progress=progress,
        )

    def restore_tensor(
        self,
        x: torch.Tensor,
        tiles: TileSettings | None = None,
        progress: Progress | None = None,
    ) -> torch.Tensor:
        """Restore a 1×3×H×W float tensor (any H, W); returns 1×3×H×W float32, unclamped.

        Raises:
            InputArrayError: not a floating-point 1×3×H×W tensor.
        """
        _check_tensor(x)
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
        progress: Progress | None = None,
    ) -> tuple[np.ndarray, RestoreStats]:
        """Restore an RGB image; returns float32 H×W×3 clipped to [0, 1] and its stats.

        `image` must be a numpy float32/float64 H×W×3 RGB array with values in [0, 1], as
        `files.read_image` returns. Anything else is refused rather than guessed: uint8 (divide
        by 255), gray H×W (replicate it to three channels), RGBA (drop or keep the alpha aside),
        torch tensors (`restore_tensor` takes 1×3×H×W).

        With `resize_long`, images whose long side exceeds it are downscaled (area
        interpolation) first and restored at the smaller size. On a CUDA out-of-memory error the
        image is retried with half the tile size, down to twice the size multiple.

        Raises:
            InputArrayError: an input that is not as described above.
            InvalidArgumentError: `resize_long` below 1.
            RestoreError: out of GPU memory even at the smallest tile.
        """
        image = check_image(image)
        if resize_long is not None and resize_long < 1:
            raise InvalidArgumentError(f"resize_long must be at least 1 pixel, got {resize_long}")
        h, w = image.shape[:2]
        if resize_long is not None and max(h, w) > resize_long:
            image = resize_to_long_side(image, resize_long)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        start = time.perf_counter()
        out, tiles, retries = self._restore_with_retries(x, progress)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        with torch.inference_mode():
            result = out[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        stats = RestoreStats(
            seconds=seconds,
            tiles=self.count_tiles(image.shape[0], image.shape[1], tiles),
            tile=tiles.tile,
            overlap=tiles.overlap,
            device=self.device.type,
            precision=self.precision,
            input_size=(h, w),
            restored_size=(image.shape[0], image.shape[1]),
            retries=retries,
        )
        return result, stats

    def _restore_with_retries(
        self, x: torch.Tensor, progress: Progress | None
    ) -> tuple[torch.Tensor, TileSettings, int]:
        """The restored tensor, the tiles that fitted in memory and the number of retries."""
        tiles, retries = self.tiles, 0
        size = (x.shape[-2], x.shape[-1])
        while True:
            try:
                return self.restore_tensor(x, tiles, progress), tiles, retries
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                smaller = _smaller_tiles(tiles, size, self.spec.size_multiple)
                if smaller is None:
                    raise RestoreError(
                        f"out of GPU memory even with {tiles.tile or 'whole-image'} tiles; "
                        "try --device cpu or a smaller --tile"
                    ) from None
                tiles, retries = smaller, retries + 1


def check_image(image: object) -> np.ndarray:
    """`image` as float32 if it is a float H×W×3 array in [0, 1]; else InputArrayError saying
    what was expected and how to get there."""
    if isinstance(image, torch.Tensor):
        raise InputArrayError(
            "expected a numpy H×W×3 array, got a torch tensor; use Restorer.restore_tensor "
            "for 1×3×H×W tensors, or pass tensor.permute(1, 2, 0).numpy()"
        )
    if not isinstance(image, np.ndarray):
        raise InputArrayError(f"expected a numpy H×W×3 float array, got {type(image).__name__}")
    if image.dtype.kind in "uib":
        scale = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else 1
        raise InputArrayError(
            f"expected float values in [0, 1], got dtype {image.dtype}; convert with "
            f"image.astype(np.float32) / {scale}"
        )
    if image.dtype.kind != "f":
        raise InputArrayError(f"expected a float32 or float64 array, got dtype {image.dtype}")
    _check_shape(image.shape)
    image = image.astype(np.float32, copy=False)
    if not np.isfinite(image).all():
        raise InputArrayError("the image contains NaN or infinite values")
    low, high = float(image.min()), float(image.max())
    if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise InputArrayError(
            f"expected values in [0, 1], found {low:g}..{high:g}; scale (8-bit: / 255) or "
            "np.clip(image, 0, 1) first"
        )
    return image


def _check_shape(shape: tuple[int, ...]) -> None:
    if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1):
        raise InputArrayError(
            f"expected an H×W×3 RGB image, got gray {shape}; replicate it with "
            "np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)"
        )
    if len(shape) == 3 and shape[2] == 4:
        raise InputArrayError(
            f"expected an H×W×3 RGB image, got {shape} (RGBA?); pass image[:, :, :3] "
            "and keep the alpha channel aside"
        )
    if len(shape) != 3 or shape[2] != 3:
        raise InputArrayError(f"expected an H×W×3 RGB image, got shape {shape}")
    if shape[0] == 0 or shape[1] == 0:
        raise InputArrayError(f"expected a non-empty image, got shape {shape}")


def _check_tensor(x: object) -> None:
    if not isinstance(x, torch.Tensor):
        raise InputArrayError(f"expected a torch tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise InputArrayError(f"expected a 1×3×H×W tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputArrayError(f"expected a float tensor in [0, 1], got dtype {x.dtype}")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise InputArrayError(f"expected a non-empty image, got shape {tuple(x.shape)}")


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
    """Downscale (area interpolation) so the long side is `long_side` pixels."""
    if long_side < 1:
        raise InvalidArgumentError(f"the long side must be at least 1 pixel, got {long_side}")
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def restore_image(
    model: nn.Module,
    image: np.ndarray,
    *,
    tile: int,
    overlap: int,
    spec: ModelSpec | None = None,
    tile_batch: int = 1,
    placement: str = Placement.even.value,
    blend: str = Blend.cosine.value,
    device: str = Device.cpu.value,
    precision: str = Precision.fp32.value,
) -> np.ndarray:
    """One-call restore of an H×W×3 float image in [0, 1] (see `Restorer` for options).

    `spec` defaults to the registry entry the model was created from.
    """
    if spec is None:
        spec = get_spec(getattr(model, "arch_name", type(model).__name__))
    tiles = TileSettings(tile, overlap, tile_batch, placement, blend)
    restorer = Restorer(model, spec, device=device, precision=precision, tiles=tiles)
    return restorer.restore(image)[0]
