"""Benchmark: models x tile settings scored on one dataset with a score cache, each model's
complexity and speed, and the accuracy-vs-cost plot (protocols §4, §5.3).

May import `evaluation`, `inference`, `profiling`, `weights`, `datasets`, `models`, `files`,
`defaults` and `errors`; returns dataclasses and never prints.
"""

from ..errors import BenchmarkError, PlotError
from .cache import CACHE_VERSION, HASHES_NAME, cache_root, cell_key, dataset_hash, weights_sha256
from .complexity import profile_checkpoint, published_changes
from .options import (
    BenchmarkOptions,
    TileSetting,
    parse_models,
    parse_tile_settings,
    parse_weights_map,
)
from .plot import INSTALL_HINT, PlotPoint, plot_benchmark, plot_points, require_matplotlib
from .report import (
    SCHEMA,
    BenchmarkCell,
    BenchmarkEvent,
    BenchmarkModel,
    BenchmarkReport,
    save_report,
)
from .run import run_benchmark
from .speed import SPEED_IMAGES, time_restores

__all__ = [
    "CACHE_VERSION",
    "HASHES_NAME",
    "INSTALL_HINT",
    "SCHEMA",
    "SPEED_IMAGES",
    "BenchmarkCell",
    "BenchmarkError",
    "BenchmarkEvent",
    "BenchmarkModel",
    "BenchmarkOptions",
    "BenchmarkReport",
    "PlotError",
    "PlotPoint",
    "TileSetting",
    "cache_root",
    "cell_key",
    "dataset_hash",
    "parse_models",
    "parse_tile_settings",
    "parse_weights_map",
    "plot_benchmark",
    "plot_points",
    "profile_checkpoint",
    "published_changes",
    "require_matplotlib",
    "run_benchmark",
    "save_report",
    "time_restores",
    "weights_sha256",
]
