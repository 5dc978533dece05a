"""What an evaluation returns: one `EvaluationReport` (its fields are the `--json` document),
the per-image `ImageRecord`s it holds, and the `EvalProgress` event sent after each image."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..datasets import Skipped


@dataclass(frozen=True)
class ImageRecord:
    """Per-image result, one JSONL line. `ecc_ok`/`gain`/`warp`/`ecc_cc` are None unaligned."""

    name: str
    height: int
    width: int
    psnr: float
    ssim: float
    ecc_ok: bool | None
    gain: float | None
    warp: tuple[float, ...] | None
    ecc_cc: float | None
    valid_fraction: float
    align_seconds: float
    metric_seconds: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageRecord:
        """Raises KeyError, TypeError or ValueError on a malformed line (the reader names it)."""
        warp = data.get("warp")
        return cls(
            name=str(data["name"]),
            height=int(data["height"]),
            width=int(data["width"]),
            psnr=float(data["psnr"]),
            ssim=float(data["ssim"]),
            ecc_ok=data.get("ecc_ok"),
            gain=data.get("gain"),
            warp=tuple(float(v) for v in warp) if warp is not None else None,
            ecc_cc=data.get("ecc_cc"),
            valid_fraction=float(data.get("valid_fraction", 1.0)),
            align_seconds=float(data.get("align_seconds", 0.0)),
            metric_seconds=float(data.get("metric_seconds", 0.0)),
        )


@dataclass(frozen=True)
class Means:
    psnr: float
    ssim: float

    @classmethod
    def of(cls, records: Sequence[ImageRecord]) -> Means:
        """Arithmetic means of the per-image values (§1.4); NaN when there are none. An image
        with identical prediction and GT has PSNR inf, and the mean is then inf."""
        if not records:
            return cls(math.nan, math.nan)
        return cls(
            float(np.mean([r.psnr for r in records])), float(np.mean([r.ssim for r in records]))
        )


@dataclass(frozen=True)
class StageSeconds:
    """Where the time went. `inference` is the model (tiling included) in this process, None
    when scoring a predictions folder; `alignment` and `metrics` are summed over the worker
    processes, so with several workers they can exceed `wall`."""

    inference: float | None
    alignment: float
    metrics: float
    wall: float


@dataclass(frozen=True)
class ModelRun:
    """The network that made the predictions and how it was run."""

    model: str
    weights: str
    tlc: bool
    tile: int
    overlap: int
    tile_batch: int
    placement: str
    blend: str
    device: str
    precision: str
    tta: bool
    restored: int  # images restored in this call (resumed ones are not re-run)


@dataclass(frozen=True)
class EvaluationReport:
    """The result of `evaluate` and `run_evaluation`; its fields are the `--json` output.

    Attributes:
        mean: arithmetic means of the per-image PSNR and SSIM over `count` images (§1.4).
        skipped: everything not scored, with file, list line and reason: bad pairs found
            while loading the dataset, missing or unreadable predictions, size mismatches,
            blurry inputs the model could not restore.
        missing: names of pairs with no prediction (also in `skipped`).
        resumed: records read back from `results_path` instead of being scored again.
        workers: scoring processes used (0: scored in this process).
        model: the network, None when a predictions folder was scored.
        predictions: the predictions folder, None in model mode.
        images: per-image records in dataset order (resumed ones included).
        notes: remarks on how the run went (worker count capped, earlier results kept aside).
    """

    dataset: str
    source: str
    protocol: dict[str, Any]
    mean: Means
    count: int
    ecc_failures: int
    skipped: tuple[Skipped, ...]
    missing: tuple[str, ...]
    resumed: int
    workers: int
    seconds: StageSeconds
    model: ModelRun | None
    predictions: str | None
    results_path: str | None
    save_dir: str | None
    images: tuple[ImageRecord, ...]
    notes: tuple[str, ...] = ()

    @property
    def psnr(self) -> float:
        return self.mean.psnr

    @property
    def ssim(self) -> float:
        return self.mean.ssim

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (an infinite PSNR stays a float; `json.dumps` writes Infinity)."""
        return asdict(self)


@dataclass(frozen=True)
class EvalProgress:
    """Sent after each scored or skipped image, with the running means over every image
    scored so far (resumed ones included).

    Attributes:
        done: images handled in this run (scored or skipped), resumed ones included.
        record: the image's scores, None when it was skipped (`skipped` says why).
        scored: images with scores so far; `mean_psnr`/`mean_ssim` are over those.
    """

    done: int
    total: int
    name: str
    record: ImageRecord | None
    skipped: Skipped | None
    scored: int
    mean_psnr: float
    mean_ssim: float
