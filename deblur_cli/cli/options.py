"""Options shared by several subcommands, declared once."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON to stdout instead of a table.")
]


# Choices shared by restore, evaluate and benchmark.


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class Blend(str, Enum):
    cosine = "cosine"
    hamming = "hamming"


class Placement(str, Enum):
    even = "even"
    seed = "seed"


class Compare(str, Enum):
    side_by_side = "side-by-side"
    split = "split"


TILE_HELP = (
    "Tile size in pixels (0 = whole image, padded to the model's size multiple). "
    "Default per model, the seed's best setting: fftformer 512/256, mlwnet and mlwnet-local "
    "256/128, hybridnet 512/256, ce-mlwnet 512/256 (tile/overlap)."
)


class DatasetName(str, Enum):
    realblur_j = "realblur-j"
    realblur_r = "realblur-r"
    gopro = "gopro"
    paired = "paired"


class Split(str, Enum):
    test = "test"
    train = "train"


class Align(str, Enum):
    ecc = "ecc"
    none = "none"


class SsimVariant(str, Enum):  # metrics.SSIM_VARIANTS
    realblur = "realblur"
    ssim3d = "ssim3d"
    skimage = "skimage"
    basicsr2d = "basicsr2d"


class GoproBlur(str, Enum):
    blur = "blur"
    blur_gamma = "blur_gamma"
