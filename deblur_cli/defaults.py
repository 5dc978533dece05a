"""Choices and defaults that the CLI help and the core both read: one place, no torch import.

A default typed here is never typed again: `cli/` builds its options from these names and the
core functions take them as keyword defaults. Model-specific facts (tile sizes, size multiples)
live in the model registry instead.
"""

from __future__ import annotations

from enum import Enum


class Device(str, Enum):
    """Where models run; `auto` picks CUDA, then MPS, then CPU."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Precision(str, Enum):
    """Autocast precision of the forward pass (FFT paths always run in float32)."""

    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class Engine(str, Enum):
    """What runs the network: PyTorch (default, fastest measured where users wait), or the
    exported ONNX graph in ONNX Runtime or OpenVINO (CPU, fp32; extras `onnx`, `openvino`)."""

    torch = "torch"
    onnxruntime = "onnxruntime"
    openvino = "openvino"


class Blend(str, Enum):
    """How overlapping tiles are blended (protocols §2)."""

    cosine = "cosine"
    hamming = "hamming"


class Placement(str, Enum):
    """Where tiles start: evenly spread, or the seed's stride rule (protocols §2.1)."""

    even = "even"
    seed = "seed"


class Compare(str, Enum):
    """Layout of the before/after picture `restore --compare` writes."""

    side_by_side = "side-by-side"
    split = "split"  # type: ignore[assignment]  # shadows str.split; the value is the CLI word


class DatasetName(str, Enum):
    """Dataset layouts `evaluate`, `benchmark` and `train` understand (datasets spec)."""

    realblur_j = "realblur-j"
    realblur_r = "realblur-r"
    gopro = "gopro"
    paired = "paired"


class Split(str, Enum):
    test = "test"
    train = "train"


class Align(str, Enum):
    """RealBlur's ECC alignment before scoring, or none (GoPro's protocol)."""

    ecc = "ecc"
    none = "none"


class SsimVariant(str, Enum):
    """SSIM implementations (protocols §1.4)."""

    realblur = "realblur"
    ssim3d = "ssim3d"
    skimage = "skimage"
    basicsr2d = "basicsr2d"


class GoproBlur(str, Enum):
    blur = "blur"
    blur_gamma = "blur_gamma"


PRECISIONS: tuple[str, ...] = tuple(p.value for p in Precision)
DEVICES: tuple[str, ...] = tuple(d.value for d in Device)
BLENDS: tuple[str, ...] = tuple(b.value for b in Blend)
PLACEMENTS: tuple[str, ...] = tuple(p.value for p in Placement)

# The model `restore` and `evaluate` use when neither --model nor --weights is given.
DEFAULT_MODEL = "ce-mlwnet"

# Image files (decided by content when read; the suffix picks the encoder when written).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# `deblur restore` outputs: `<stem><RESTORE_SUFFIX>.<ext>`, JPEG/WebP written at IMAGE_QUALITY.
RESTORE_SUFFIX = "_deblurred"
IMAGE_QUALITY = 95

# Evaluation (protocols §1.1 step 2: the official script hard-codes 100 ECC iterations).
ECC_ITERS = 100

# Latency measurement (protocols §5.3: warm-up runs, then timed runs, as the seed did).
LATENCY_WARMUP = 20
LATENCY_ITERS = 100
# ...but bounded in time, so a slow model on a small CPU cannot run for half an hour: timed runs
# stop after LATENCY_ITERS passes or LATENCY_TIME_BUDGET seconds per model, whichever first;
# warm-up after LATENCY_WARMUP passes or this share of the budget (at least one pass of each).
LATENCY_TIME_BUDGET = 10.0
LATENCY_WARMUP_SHARE = 0.25

# Profiling input side (protocols §5.3: the seed's complexity table is at 256x256).
PROFILE_SIZE = 256

# `deblur benchmark`'s tile settings: the seed's three (protocols §4).
BENCHMARK_TILES = "256/128,512/256,full"

# "Did you mean" for unknown model and weights names: difflib ratio at or above this only, so a
# near-typo is suggested ("mlwnet.gopro-w46") and an unrelated name never is.
NAME_SUGGESTION_CUTOFF = 0.75
