"""What `run_benchmark` returns (the `--json` document of `deblur benchmark`) and the progress
events it emits while it runs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BenchmarkError
from ..files import write_json
from ..profiling import ProfileReport

SCHEMA = "deblur.benchmark/1"


@dataclass(frozen=True)
class BenchmarkCell:
    """One model x tile setting.

    Attributes:
        seconds_per_image: with `speed`, the median of read -> tiles -> model -> blend over
            the first `timed_images` pairs, timed after one warm-up image with no scoring
            running; None otherwise.
        inference_seconds: model time summed over the images restored when this cell was
            scored (scoring workers ran alongside), from the run that filled the cache.
        cached: read from the cache instead of scored in this call.
    """

    model: str
    tiles: str
    tile: int
    overlap: int
    psnr: float
    ssim: float
    count: int
    ecc_failures: int
    skipped: int
    inference_seconds: float | None
    scored_at: str
    cached: bool
    cache_key: str
    cache_path: str
    seconds_per_image: float | None = None
    timed_images: int = 0


@dataclass(frozen=True)
class BenchmarkModel:
    """A benchmarked network: its weights and complexity. `config_changes` lists the fields
    where the checkpoint's config differs from the registry's published one (the complexity is
    then that of the checkpoint's network)."""

    name: str
    weights: str
    weights_path: str
    weights_sha256: str
    config: dict[str, Any]
    config_changes: dict[str, Any]
    complexity: ProfileReport


@dataclass(frozen=True)
class BenchmarkReport:
    schema: str
    dataset: str
    source: str
    pairs: int
    limit: int | None
    dataset_hash: str
    protocol: dict[str, Any]
    tiles: tuple[str, ...]
    precision: str
    speed: bool
    models: tuple[BenchmarkModel, ...]
    cells: tuple[BenchmarkCell, ...]
    cache_dir: str
    scored: int  # cells scored in this call
    reused: int  # cells read from the cache

    def cell(self, model: str, tiles: str) -> BenchmarkCell:
        for c in self.cells:
            if c.model == model and c.tiles == tiles:
                return c
        raise BenchmarkError(f"no result for {model} at tile setting {tiles}")

    def best_cell(self, model: str) -> BenchmarkCell:
        """The model's highest-PSNR setting (the seed's plot.py choice: best of N on the test
        set, protocols.md §4)."""
        return max((c for c in self.cells if c.model == model), key=lambda c: c.psnr)


@dataclass(frozen=True)
class BenchmarkEvent:
    """Progress: `stage` is hashing, loading, cached, scoring (per image, with the running mean
    PSNR), timing or profiling; `tiles` is None for per-model stages."""

    stage: str
    model: str
    tiles: str | None = None
    done: int = 0
    total: int = 0
    psnr: float | None = None


def save_report(report: BenchmarkReport, path: Path | str) -> Path:
    """Write the report as pretty JSON (the `--json` document), atomically."""
    return write_json(path, dataclasses.asdict(report), error=BenchmarkError)
