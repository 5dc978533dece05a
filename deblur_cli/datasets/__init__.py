"""Datasets: the RealBlur, GoPro, seed-JSON and paired-folder layouts as validated image pairs
with official prediction names (datasets.md). May import `files`, `defaults` and `errors`.

Loaders return a frozen `Dataset` whose bad items are listed in `skipped` (never dropped
silently); fatal problems raise `DatasetError` with a one-line message.
"""

from ..files import read_rgb
from .detect import detect_layout, open_dataset
from .gopro import load_gopro
from .lists import load_list
from .names import (
    GOPRO_BLUR_FOLDERS,
    REALBLUR_FOLDERS,
    gopro_prediction_name,
    paired_prediction_name,
    realblur_prediction_name,
)
from .paired import BLUR_ALIASES, SHARP_ALIASES, find_paired_folders, load_paired
from .pairs import (
    DATASET_NAMES,
    SPLITS,
    Dataset,
    Pair,
    Skipped,
    canonical_dataset_name,
    natural_key,
)
from .realblur import load_realblur, load_seed_json
from .validation import validate_pairs

__all__ = [
    "BLUR_ALIASES",
    "DATASET_NAMES",
    "GOPRO_BLUR_FOLDERS",
    "REALBLUR_FOLDERS",
    "SHARP_ALIASES",
    "SPLITS",
    "Dataset",
    "Pair",
    "Skipped",
    "canonical_dataset_name",
    "detect_layout",
    "find_paired_folders",
    "gopro_prediction_name",
    "load_gopro",
    "load_list",
    "load_paired",
    "load_realblur",
    "load_seed_json",
    "natural_key",
    "open_dataset",
    "paired_prediction_name",
    "read_rgb",
    "realblur_prediction_name",
    "validate_pairs",
]
