"""Tile settings: the model's own setting from its registry entry, with the user's choices
applied and checked once, here (protocols §2, §4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..defaults import BLENDS, PLACEMENTS, Blend, Placement
from ..errors import InvalidArgumentError
from ..models import ModelSpec

# A CPU forward is most efficient at about this many pixels (see `default_tile_batch`).
_CPU_FORWARD_PIXELS = 512 * 512
_MAX_TILE_BATCH = 4


@dataclass(frozen=True)
class TileSettings:
    """How an image is cut: `tile` 0 = whole image (padded to the size multiple).

    Attributes:
        tile / overlap: tile side and overlap in pixels; the overlap is ignored for tile 0.
        tile_batch: tiles per forward pass (at least 1).
        placement: "even" (default) or "seed" (the seed's rule, for reproduction).
        blend: "cosine" (default) or "hamming" (the seed's window).
        margin: pixels at each overlapping tile edge given zero weight (§2.2.3).

    Raises:
        InvalidArgumentError: any value outside the ranges above.
    """

    tile: int
    overlap: int
    tile_batch: int = 1
    placement: str = Placement.even.value
    blend: str = Blend.cosine.value
    margin: int = 0

    def __post_init__(self) -> None:
        if self.tile < 0 or self.overlap < 0:
            raise InvalidArgumentError(
                f"tile and overlap must not be negative (got {self.tile}/{self.overlap})"
            )
        if self.tile and self.overlap >= self.tile:
            raise InvalidArgumentError(
                f"overlap {self.overlap} must be smaller than the tile {self.tile}"
            )
        if self.tile_batch < 1:
            raise InvalidArgumentError(f"tile batch must be at least 1, got {self.tile_batch}")
        if self.placement not in PLACEMENTS:
            raise InvalidArgumentError(
                f"unknown tile placement '{self.placement}' (use {', '.join(PLACEMENTS)})"
            )
        if self.blend not in BLENDS:
            raise InvalidArgumentError(f"unknown blend '{self.blend}' (use {', '.join(BLENDS)})")
        if self.margin < 0:
            raise InvalidArgumentError(f"tile margin must not be negative, got {self.margin}")


def default_tile_batch(tile: int, device: torch.device) -> int:
    """4 tiles a forward on GPU; on CPU as many as fit a 512x512 forward (measured: 4 tiles of
    256 run 10% faster per tile than 1, while 4 tiles of 512 run 1.7x slower per tile)."""
    if device.type != "cpu":
        return _MAX_TILE_BATCH
    if not tile:
        return 1
    return max(1, min(_MAX_TILE_BATCH, _CPU_FORWARD_PIXELS // (tile * tile)))


def resolve_tiles(
    spec: ModelSpec,
    device: torch.device,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    tile_batch: int | None = None,
    blend: str = Blend.cosine.value,
    placement: str = Placement.even.value,
) -> TileSettings:
    """The registry's tile setting with the user's choices applied; a tile given without an
    overlap gets half the tile as overlap, `tile` 0 means the whole image, `tile_batch` None
    the device's default.

    Raises:
        InvalidArgumentError: a negative size, an overlap not below the tile, a tile batch
            below 1, an unknown blend or placement.
    """
    size = spec.default_tile if tile is None else tile
    if overlap is None:
        overlap = spec.default_overlap if tile is None else max(size, 0) // 2
    if size < 0 or overlap < 0:
        raise InvalidArgumentError(f"tile and overlap must not be negative (got {size}/{overlap})")
    return TileSettings(
        tile=size,
        overlap=overlap if size else 0,
        tile_batch=default_tile_batch(size, device) if tile_batch is None else tile_batch,
        placement=placement,
        blend=blend,
    )


def default_tiles(spec: ModelSpec, device: torch.device) -> TileSettings:
    """The seed's best tile setting for the model (protocols §4)."""
    return resolve_tiles(spec, device)
