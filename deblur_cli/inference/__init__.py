"""Inference: runtime (device, precision, channels_last, scoped threads/cudnn), tiles, the
Restorer, file batches, before/after pictures and loading `--model/--weights` into a network.

May import `weights`, `checkpoints`, `models`, `files`, `defaults` and `errors`; of the core,
only `evaluation`, `benchmark` and `cli` import it.
"""

from ..errors import InputArrayError, RestoreError
from .batch import (
    ImageResult,
    Inputs,
    Job,
    OutputOptions,
    collect_inputs,
    plan_jobs,
    run_jobs,
)
from .loading import DEFAULT_MODEL, ReadyModel, default_weights, load_for_inference
from .restorer import Restorer, RestoreStats, check_image, resize_to_long_side, restore_image
from .runtime import (
    AUTOCAST_DTYPES,
    autocast,
    check_precision,
    cudnn_benchmark,
    keep_freed_memory,
    resolve_device,
    to_channels_last,
    torch_threads,
)
from .settings import TileSettings, default_tile_batch, default_tiles, resolve_tiles
from .tiles import TilePlan, plan_tiles, tiled_forward
from .visuals import COMPARE_MODES, make_compare, make_gif

# Older name of AUTOCAST_DTYPES (precision name -> autocast dtype), kept for callers that
# imported it before the package split; the names themselves are `defaults.PRECISIONS`.
PRECISIONS = AUTOCAST_DTYPES

__all__ = [
    "AUTOCAST_DTYPES",
    "COMPARE_MODES",
    "DEFAULT_MODEL",
    "PRECISIONS",
    "ImageResult",
    "InputArrayError",
    "Inputs",
    "Job",
    "OutputOptions",
    "ReadyModel",
    "RestoreError",
    "RestoreStats",
    "Restorer",
    "TilePlan",
    "TileSettings",
    "autocast",
    "check_image",
    "check_precision",
    "collect_inputs",
    "cudnn_benchmark",
    "default_tile_batch",
    "default_tiles",
    "default_weights",
    "keep_freed_memory",
    "load_for_inference",
    "make_compare",
    "make_gif",
    "plan_jobs",
    "plan_tiles",
    "resize_to_long_side",
    "resolve_device",
    "resolve_tiles",
    "restore_image",
    "run_jobs",
    "tiled_forward",
    "to_channels_last",
    "torch_threads",
]
