"""What `run_benchmark` is asked: the tile settings, models and weights map parsed from their
comma-separated command-line forms, and `BenchmarkOptions` (checked when built)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..defaults import (
    BENCHMARK_TILES,
    ECC_ITERS,
    LATENCY_ITERS,
    LATENCY_TIME_BUDGET,
    LATENCY_WARMUP,
    PRECISIONS,
    PROFILE_SIZE,
    Device,
    Precision,
)
from ..errors import BenchmarkError
from ..models import get_spec


@dataclass(frozen=True)
class TileSetting:
    """One column group of the slide-19 table: `tile` 0 = whole image ("full")."""

    label: str
    tile: int
    overlap: int


def _parse_tile_setting(item: str) -> TileSetting:
    if item in ("full", "0"):
        return TileSetting("full", 0, 0)
    tile_text, slash, overlap_text = item.partition("/")
    try:
        tile = int(tile_text)
        overlap = int(overlap_text) if slash else tile // 2
    except ValueError:
        raise BenchmarkError(
            f"tile setting {item!r}: expected TILE/OVERLAP (e.g. 256/128) or 'full'"
        ) from None
    if tile < 1 or not 0 <= overlap < tile:
        raise BenchmarkError(f"tile setting {item!r}: need tile > overlap >= 0")
    return TileSetting(f"{tile}/{overlap}", tile, overlap)


def parse_tile_settings(text: str) -> tuple[TileSetting, ...]:
    """`256/128,512/256,full` -> tile settings, in the order given, duplicates refused."""
    settings: list[TileSetting] = []
    for item in (part.strip().lower() for part in text.split(",")):
        if not item:
            continue
        setting = _parse_tile_setting(item)
        if setting in settings:
            raise BenchmarkError(f"tile setting {setting.label} given twice")
        settings.append(setting)
    if not settings:
        raise BenchmarkError("no tile settings given")
    return tuple(settings)


def parse_models(text: str) -> tuple[str, ...]:
    """`ce-mlwnet,mlwnet` -> canonical registry names (unknown names raise)."""
    names = [get_spec(part).name for part in text.split(",") if part.strip()]
    if not names:
        raise BenchmarkError("no models given")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BenchmarkError(f"model {', '.join(repeated)} given twice")
    return tuple(names)


def parse_weights_map(text: str | None, models: Sequence[str]) -> dict[str, str]:
    """`a=W1,b=W2` (registry names or files) -> {model: weights}; with a single model a bare
    `W` is accepted. Models left out use their default registry weights."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, eq, weights = item.partition("=")
        if not eq:
            if len(models) != 1:
                raise BenchmarkError(f"--weights {item!r}: use MODEL=WEIGHTS with several models")
            name, weights = models[0], item
        model = get_spec(name.strip()).name
        if model not in models:
            raise BenchmarkError(f"--weights names {model}, which is not in --models")
        if model in mapping:
            raise BenchmarkError(f"--weights gives {model} twice")
        mapping[model] = weights.strip()
    return mapping


@dataclass(frozen=True)
class BenchmarkOptions:
    """How the benchmark runs. `align`/`ssim` None = the dataset's default protocol (§1.6);
    `limit` keeps the first N pairs in dataset order; `rescore` ignores cached results (and
    overwrites them); `speed` adds model-only latency (§5.3, bounded by `latency_iters` passes
    or `latency_budget` seconds, None = no time limit) and end-to-end seconds per image."""

    tiles: tuple[TileSetting, ...] = parse_tile_settings(BENCHMARK_TILES)
    weights: Mapping[str, str] = dataclasses.field(default_factory=dict)
    limit: int | None = None
    align: bool | None = None
    ssim: str | None = None
    ecc_iters: int = ECC_ITERS
    device: str = Device.auto.value
    precision: str = Precision.fp32.value
    workers: int | None = None
    speed: bool = False
    latency_iters: int = LATENCY_ITERS
    latency_warmup: int = LATENCY_WARMUP
    latency_budget: float | None = LATENCY_TIME_BUDGET
    profile_size: int = PROFILE_SIZE
    rescore: bool = False

    def __post_init__(self) -> None:
        at_least = {"ecc_iters": 1, "latency_iters": 1, "latency_warmup": 0, "profile_size": 1}
        at_least |= {"limit": 1} if self.limit is not None else {}
        at_least |= {"workers": 0} if self.workers is not None else {}
        for name, low in at_least.items():
            if getattr(self, name) < low:
                raise BenchmarkError(f"{name} must be at least {low}, got {getattr(self, name)}")
        if self.latency_budget is not None and not self.latency_budget > 0:
            raise BenchmarkError(
                f"latency_budget must be positive seconds or None, got {self.latency_budget}"
            )
        if self.precision not in PRECISIONS:
            raise BenchmarkError(
                f"precision {self.precision!r}: use one of {', '.join(PRECISIONS)}"
            )
        if not self.tiles:
            raise BenchmarkError("no tile settings given")
