"""Tiled inference (protocols §2): where tiles go, how overlapping outputs are weighted, and
the tiled forward pass that stitches them into one image with low memory.

Two placements: `even` (§2.2, the default: same tile count as the seed, overlaps spread
evenly) and `seed` (§2.1, reproduces the seed's starts, near-duplicate last tile and padding
of small images up to the tile). Two blends: `cosine` (§2.2 edge-aware raised cosine) and
`hamming` (§2.1, the seed's 2-D Hamming window).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..defaults import BLENDS, PLACEMENTS
from ..errors import InputArrayError, InputSizeError, InvalidArgumentError

PlacementName = Literal["even", "seed"]
BlendName = Literal["cosine", "hamming"]
PadMode = Literal["reflect", "symmetric"]


def tile_starts(
    length: int, tile: int, overlap: int, placement: PlacementName = "even"
) -> tuple[int, ...]:
    """Start offsets of the tiles along one axis of `length` pixels.

    `even` (§2.2): n = ceil((L − P)/S) + 1 tiles at round(i·(L − P)/(n − 1)), with Python's
    round-half-to-even (657 px at 256/128 → 0, 100, 200, 301, 401); one tile at 0 if L ≤ P.
    `seed` (§2.1): 0, S, 2S, … while start ≤ L − P, then L − P if the last tile ends early
    (773 px at 256/128 → 0, 128, 256, 384, 512, 517); one tile at 0 if L < P.
    """
    _check_tile(tile, overlap)
    if length < 1:
        raise InvalidArgumentError(f"axis length must be positive, got {length}")
    stride = tile - overlap
    if placement == "even":
        if length <= tile:
            return (0,)
        count = -(-(length - tile) // stride) + 1  # ceil((L − P)/S) + 1, in integers
        return tuple(round(i * (length - tile) / (count - 1)) for i in range(count))
    if placement == "seed":
        if length < tile:
            return (0,)
        starts = list(range(0, length - tile + 1, stride))
        if starts[-1] + tile < length:
            starts.append(length - tile)
        return tuple(starts)
    raise InvalidArgumentError(f"unknown tile placement {placement!r} (choose from {', '.join(PLACEMENTS)})")


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of one image go.

    Attributes:
        height / width: the image.
        canvas_height / canvas_width: the padded image the tiles are cut from (bottom/right
            padding only; equal to the image along an axis longer than the tile).
        tile_height / tile_width: the size of every tile (all equal, so tiles batch).
        rows / cols: tile start offsets; tiles are every (row, col) pair, row-major.
        pad_mode: "reflect" (reflect-101, as torch/official evals) or "symmetric" (edge
            repeated, OpenCV BORDER_REFLECT, what the seed used for small images).
    """

    height: int
    width: int
    canvas_height: int
    canvas_width: int
    tile_height: int
    tile_width: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    pad_mode: PadMode = "reflect"

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.cols)


def plan_tiles(
    height: int,
    width: int,
    tile: int,
    overlap: int = 0,
    *,
    size_multiple: int = 1,
    placement: PlacementName = "even",
) -> TilePlan:
    """Plan the tiles of an H×W image; `tile` 0 means the whole image as one tile.

    A tile (and, in whole-image or `even` mode, an axis shorter than the tile) is padded
    up to a multiple of `size_multiple` only; `seed` mode pads a short axis up to the tile.

    Raises:
        InputSizeError: `tile` is not a multiple of `size_multiple`.
        InvalidArgumentError: a negative tile, an overlap outside 0..tile−1, an unknown placement.
    """
    if height < 1 or width < 1:
        raise InvalidArgumentError(f"image size must be positive, got {height}x{width}")
    if size_multiple < 1:
        raise InvalidArgumentError(f"size_multiple must be at least 1, got {size_multiple}")
    if placement not in PLACEMENTS:
        raise InvalidArgumentError(
            f"unknown tile placement {placement!r} (choose from {', '.join(PLACEMENTS)})"
        )
    if tile == 0:
        canvas_h, canvas_w = _round_up(height, size_multiple), _round_up(width, size_multiple)
        return TilePlan(height, width, canvas_h, canvas_w, canvas_h, canvas_w, (0,), (0,))
    _check_tile(tile, overlap)
    if tile % size_multiple:
        raise InputSizeError(
            f"tile {tile} is not a multiple of the model's size multiple {size_multiple}"
        )
    canvas_h, tile_h, rows = _axis_plan(height, tile, overlap, size_multiple, placement)
    canvas_w, tile_w, cols = _axis_plan(width, tile, overlap, size_multiple, placement)
    pad_mode: PadMode = "symmetric" if placement == "seed" else "reflect"
    return TilePlan(height, width, canvas_h, canvas_w, tile_h, tile_w, rows, cols, pad_mode)


def axis_weights(
    starts: Sequence[int], size: int, blend: BlendName = "cosine", margin: int = 0
) -> np.ndarray:
    """Per-tile blend weights along one axis, shape (len(starts), size), float64.

    `cosine` (§2.2): 1 except on a side that overlaps the neighbouring tile; there, with
    o = the actual overlap with that neighbour, the pixel at distance d from the edge gets
    sin²(π/2·(d + 0.5)/o), so two overlapping ramps sum to 1. With `margin` m (§2.2.3) the m
    outermost pixels of an overlapping side get 0 and the ramp spans the o − 2m pixels left.
    `hamming` (§2.1): the symmetric Hamming window 0.54 − 0.46·cos(2πn/(N − 1)) on every tile.
    The 2-D weight of a tile is the outer product of its row and column weights.
    """
    if blend not in BLENDS:
        raise InvalidArgumentError(f"unknown blend {blend!r} (choose from {', '.join(BLENDS)})")
    if margin < 0:
        raise InvalidArgumentError(f"tile margin must be non-negative, got {margin}")
    count = len(starts)
    if blend == "hamming":
        if margin:
            raise InvalidArgumentError("a tile margin needs the cosine blend")
        return np.tile(np.hamming(size), (count, 1))
    weights = np.ones((count, size))
    for i in range(count):
        if i > 0:
            weights[i] *= _ramp(starts[i - 1] + size - starts[i], size, margin)
        if i < count - 1:
            weights[i] *= _ramp(starts[i] + size - starts[i + 1], size, margin)[::-1]
    return weights


def pad_bottom_right(
    image: torch.Tensor, bottom: int, right: int, mode: PadMode = "reflect"
) -> torch.Tensor:
    """Pad the last two dims at the bottom and right by mirroring.

    Pads larger than the image repeat the reflection (numpy `np.pad` semantics: a 5-px
    axis padded by 11 reflects the already reflected pixels); a 1-px axis is replicated.
    """
    if bottom < 0 or right < 0:
        raise InvalidArgumentError(f"padding must be non-negative, got bottom={bottom}, right={right}")
    if bottom == 0 and right == 0:
        return image
    rows = _mirror_index(image.shape[-2], bottom, mode, image.device)
    cols = _mirror_index(image.shape[-1], right, mode, image.device)
    return image.index_select(-2, rows).index_select(-1, cols)


def tiled_forward(
    image: torch.Tensor,
    forward: Callable[[torch.Tensor], torch.Tensor],
    *,
    tile: int,
    overlap: int = 0,
    size_multiple: int = 1,
    tile_batch: int = 1,
    placement: PlacementName = "even",
    blend: BlendName = "cosine",
    margin: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Run `forward` over tiles of a 1×C×H×W image and blend the outputs into 1×C'×H×W.

    `tile` 0 runs the whole image once, reflect-padded bottom/right to `size_multiple`.
    Tiles are sliced from the image on its own device; outputs are accumulated in float32
    into one canvas and one weight canvas on the outputs' device, then divided by the
    accumulated weight (which covers triple overlaps and corners). When `forward` returns a
    tuple or list (multi-scale heads) its first element is used (§2.1.3). `progress` is
    called as progress(tiles_done, tiles_total) after each batch. Runs under no_grad.

    Raises:
        InputSizeError: `tile` is not a multiple of `size_multiple`.
        InvalidArgumentError: bad arguments, or `forward` returned a batch of another size.
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise InputArrayError(f"expected a 1×C×H×W tensor, got shape {tuple(image.shape)}")
    if tile_batch < 1:
        raise InvalidArgumentError(f"tile_batch must be at least 1, got {tile_batch}")
    if blend not in BLENDS:
        raise InvalidArgumentError(f"unknown blend {blend!r} (choose from {', '.join(BLENDS)})")
    height, width = image.shape[-2:]
    plan = plan_tiles(
        height, width, tile, overlap, size_multiple=size_multiple, placement=placement
    )
    if margin and tile and overlap < 2 * margin + 1:
        raise InvalidArgumentError(f"tile margin {margin} needs an overlap of at least {2 * margin + 1}")
    weights_y = axis_weights(plan.rows, plan.tile_height, blend, margin)
    weights_x = axis_weights(plan.cols, plan.tile_width, blend, margin)
    canvas = pad_bottom_right(
        image, plan.canvas_height - height, plan.canvas_width - width, plan.pad_mode
    )
    positions = [(i, j) for i in range(len(plan.rows)) for j in range(len(plan.cols))]
    th, tw = plan.tile_height, plan.tile_width

    with torch.no_grad():
        if plan.count == 1:  # whole image, or one tile: nothing to blend
            output = _run(forward, canvas[:, :, :th, :tw])
            if progress is not None:
                progress(1, 1)
            return output[:, :, :height, :width].float().contiguous()

        blender: _Blender | None = None
        for first in range(0, len(positions), tile_batch):
            group = positions[first : first + tile_batch]
            batch = torch.cat(
                [
                    canvas[:, :, plan.rows[i] : plan.rows[i] + th, plan.cols[j] : plan.cols[j] + tw]
                    for i, j in group
                ]
            )
            result = _run(forward, batch)
            if blender is None:
                blender = _Blender(plan, weights_y, weights_x, result.shape[1], result.device)
            blender.add(result, group)
            if progress is not None:
                progress(first + len(group), len(positions))
        assert blender is not None  # plan.count > 1, so the loop ran
        return blender.result()


# --------------------------------------------------------------------------- helpers


def _check_tile(tile: int, overlap: int) -> None:
    if tile < 1:
        raise InvalidArgumentError(f"tile must be positive (or 0 for the whole image), got {tile}")
    if not 0 <= overlap < tile:
        raise InvalidArgumentError(f"overlap must be in 0..{tile - 1} for tile {tile}, got {overlap}")


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _axis_plan(
    length: int, tile: int, overlap: int, size_multiple: int, placement: PlacementName
) -> tuple[int, int, tuple[int, ...]]:
    """(canvas length, tile length, starts) along one axis."""
    if placement == "seed":
        canvas = max(length, tile)
        return canvas, tile, tile_starts(length, tile, overlap, "seed")
    if length <= tile:
        padded = _round_up(length, size_multiple)
        return padded, padded, (0,)
    return length, tile, tile_starts(length, tile, overlap, "even")


def _ramp(overlap: int, size: int, margin: int) -> np.ndarray:
    """Left-side weight of a tile that overlaps its neighbour by `overlap` pixels."""
    ramp = np.ones(size)
    if overlap <= 0:
        return ramp
    overlap = min(overlap, size)
    span = overlap - 2 * margin
    if span < 1:
        raise InvalidArgumentError(
            f"tile margin {margin} needs an overlap of at least {2 * margin + 1}, got {overlap}"
        )
    ramp[:margin] = 0.0
    d = np.arange(span)
    ramp[margin : margin + span] = np.sin(np.pi / 2 * (d + 0.5) / span) ** 2
    return ramp


def _mirror_index(length: int, pad: int, mode: PadMode, device: torch.device) -> torch.Tensor:
    if mode not in ("reflect", "symmetric"):
        raise InvalidArgumentError(f"unknown pad mode {mode!r}")
    index = np.pad(np.arange(length), (0, pad), mode=mode)
    return torch.as_tensor(index, dtype=torch.long, device=device)


class _Blender:
    """One float32 output canvas and one weight canvas on the outputs' device."""

    def __init__(
        self,
        plan: TilePlan,
        weights_y: np.ndarray,
        weights_x: np.ndarray,
        channels: int,
        device: torch.device,
    ) -> None:
        self.plan = plan
        size = (plan.canvas_height, plan.canvas_width)
        self.accumulated = torch.zeros((1, channels, *size), dtype=torch.float32, device=device)
        self.weight_sum = torch.zeros((1, 1, *size), dtype=torch.float32, device=device)
        self.wy = torch.as_tensor(weights_y, dtype=torch.float32, device=device)
        self.wx = torch.as_tensor(weights_x, dtype=torch.float32, device=device)

    def add(self, outputs: torch.Tensor, positions: Sequence[tuple[int, int]]) -> None:
        th, tw = self.plan.tile_height, self.plan.tile_width
        for k, (i, j) in enumerate(positions):
            y, x = self.plan.rows[i], self.plan.cols[j]
            weight = self.wy[i][:, None] * self.wx[j][None, :]
            self.accumulated[:, :, y : y + th, x : x + tw] += outputs[k : k + 1].float() * weight
            self.weight_sum[:, :, y : y + th, x : x + tw] += weight

    def result(self) -> torch.Tensor:
        # Every canvas pixel has a positive weight; the guard mirrors the seed's
        # "weights of 0 replaced by 1".
        weight_sum = self.weight_sum
        self.accumulated /= torch.where(weight_sum > 0, weight_sum, torch.ones_like(weight_sum))
        return self.accumulated[:, :, : self.plan.height, : self.plan.width].contiguous()


def _run(forward: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor) -> torch.Tensor:
    result = forward(batch)
    if isinstance(result, (tuple, list)):
        result = result[0]
    if (
        result.ndim != 4
        or result.shape[0] != batch.shape[0]
        or result.shape[-2:] != batch.shape[-2:]
    ):
        raise InvalidArgumentError(
            f"forward returned shape {tuple(result.shape)} for a batch of shape {tuple(batch.shape)}"
        )
    return result
