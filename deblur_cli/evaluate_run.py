"""One evaluation run as a function: a dataset scored from a predictions folder or from a model
restoring the blurry inputs while worker processes align and score (protocols.md §1.6), with
inference timed apart from alignment and metrics. Used by `deblur evaluate` and `deblur benchmark`.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .datasets import Dataset, Pair, Skipped, read_rgb
from .errors import DatasetError, DeblurError, ImageError
from .evaluation import (
    EvalProgress,
    ImageRecord,
    Protocol,
    default_protocol,
    evaluate,
    read_results,
)
from .files import atomic_write_bytes

if TYPE_CHECKING:
    import numpy as np

    from .inference import TileSettings
    from .loading import ReadyModel

RESULTS_NAME = "results.jsonl"  # inside --save-dir, beside metrics.csv (datasets.md §5)


@dataclass(frozen=True)
class Means:
    psnr: float
    ssim: float


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
class EvaluationRun:
    """Result of `run_evaluation`; its fields are the `--json` output as they are.

    Attributes:
        mean: arithmetic means of the per-image PSNR and SSIM over `count` images (§1.4).
        skipped: everything not scored, with file, list line and reason: bad pairs found
            while loading the dataset, missing or unreadable predictions, size mismatches,
            blurry inputs the model could not restore.
        missing: names of pairs with no prediction (also in `skipped`).
        resumed: records read back from `results_path` instead of being scored again.
        images: per-image records in dataset order.
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
class RunProgress:
    """Sent after each scored or skipped image, with the running means over every image
    scored so far (resumed ones included)."""

    done: int
    total: int
    name: str
    record: ImageRecord | None
    skipped: Skipped | None
    scored: int
    mean_psnr: float
    mean_ssim: float


def run_evaluation(
    dataset: Dataset,
    *,
    predictions: Path | str | None = None,
    model: ReadyModel | None = None,
    tiles: TileSettings | None = None,
    device: str = "auto",
    precision: str = "fp32",
    tta: bool = False,
    protocol: Protocol | None = None,
    workers: int | None = None,
    limit: int | None = None,
    results: Path | str | None = None,
    resume: bool = False,
    save_dir: Path | str | None = None,
    progress: Callable[[RunProgress], None] | None = None,
) -> EvaluationRun:
    """Score `dataset` from a predictions folder or by restoring its blurry inputs with a model.

    Exactly one of `predictions` and `model` is given. With a model, each blurry input is read
    as 8-bit RGB, restored in this process (`Restorer` with `tiles`, `device`, `precision`,
    `tta`) and handed to `evaluate()`, whose `workers` processes align and score while the
    next image is restored; predictions are scored after 8-bit rounding unless
    `protocol.quantize` is False.

    Args:
        dataset: from `datasets.open_dataset` (or any loader).
        predictions: a folder of restored images under their official names (datasets.md
            §5), as the official RealBlur script reads them.
        model: a loaded network with trained weights (`loading.load_for_inference`).
        tiles: tile settings; None = the model's registry defaults for the device.
        protocol: None = `default_protocol(dataset.name)` (RealBlur: ECC, 100 iterations).
        workers: scoring processes (None = CPU count, 0 = score in this process). When the
            model runs on the CPU, None means 1 and torch gets the other cores for the run:
            inference dominates there, and torch's OpenMP threads sharing busy cores ran a
            small model ~100x slower on a 2-core machine.
        limit: score only the first N pairs, in dataset order.
        results: JSONL file receiving each record as it is scored (see
            `default_results_path`); required for `resume`. Its header records the protocol
            and the prediction source, and resuming with different ones is refused.
        resume: keep the records already in `results` and score (and restore) only the rest.
        save_dir: write the 8-bit PNG predictions (model mode) under their official names and
            `metrics.csv`; refused inside the dataset tree.
        progress: called after each image, with running means.

    Raises:
        DatasetError: bad arguments, or no image could be scored.
        DeblurError: device or precision the model cannot use.
    """
    started = time.perf_counter()
    if (predictions is None) == (model is None):
        raise DatasetError("give either a predictions folder or a model, not both or neither")
    if limit is not None:
        if limit < 1:
            raise DatasetError("limit must be at least 1")
        dataset = replace(dataset, pairs=dataset.pairs[:limit])
    protocol = protocol or default_protocol(dataset.name)

    restoring: _RestoringSource | None = None
    if model is not None:
        from .inference import Restorer

        restorer = Restorer(
            model.model, model.spec, device=device, precision=precision, tiles=tiles, tta=tta
        )
        restoring = _RestoringSource(restorer)
        identity = _model_identity(model, restorer.tiles, precision, tta)
    else:
        folder = Path(predictions)  # type: ignore[arg-type]
        identity = {"predictions": str(folder.resolve())}

    running = _RunningMeans(_resumed_records(dataset, results) if resume else [])

    def on_progress(event: EvalProgress) -> None:
        if event.record is not None:
            running.add(event.record)
        if progress is not None:
            progress(
                RunProgress(
                    event.done, event.total, event.name, event.record, event.skipped,
                    running.count, running.psnr, running.ssim,
                )
            )  # fmt: skip

    threads = None
    if restoring is not None and restoring.restorer.device.type == "cpu":
        import torch

        workers = 1 if workers is None else workers
        threads = torch.get_num_threads()
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        torch.set_num_threads(max(1, min(threads, (cores or 1) - workers)))
    try:
        report = evaluate(
            dataset,
            restoring if restoring is not None else folder,
            protocol=protocol,
            workers=workers,
            results=results,
            resume=resume,
            save_dir=save_dir,
            progress=on_progress,
            source=identity,
        )
    finally:
        if threads is not None:
            torch.set_num_threads(threads)
    model_run = None
    if restoring is not None and model is not None:
        used = restoring.restorer.tiles
        model_run = ModelRun(
            model=model.spec.name,
            weights=model.weights,
            tlc=model.tlc,
            tile=used.tile,
            overlap=used.overlap,
            tile_batch=used.tile_batch,
            placement=used.placement,
            blend=used.blend,
            device=str(restoring.restorer.device),
            precision=precision,
            tta=tta,
            restored=restoring.restored,
        )
    return EvaluationRun(
        dataset=report.dataset,
        source=str(dataset.source),
        protocol=report.protocol,
        mean=Means(report.psnr, report.ssim),
        count=report.count,
        ecc_failures=report.ecc_failures,
        skipped=report.skipped,
        missing=report.missing,
        resumed=report.resumed,
        workers=report.workers,
        seconds=StageSeconds(
            inference=restoring.seconds if restoring is not None else None,
            alignment=report.align_seconds,
            metrics=report.metric_seconds,
            wall=time.perf_counter() - started,
        ),
        model=model_run,
        predictions=str(predictions) if predictions is not None else None,
        results_path=report.results_path,
        save_dir=str(save_dir) if save_dir is not None else None,
        images=report.images,
    )


def default_results_path(
    dataset: str,
    label: str,
    *,
    output: Path | str | None = None,
    save_dir: Path | str | None = None,
) -> Path:
    """Where per-image results stream when no results file is named, so that `--resume`
    finds them again: beside `output` (`results.json` -> `results.jsonl`), else
    `<save_dir>/results.jsonl`, else `deblur-eval_<dataset>_<label>.jsonl` in the current
    folder (`label`: model and weights, or the predictions folder's name)."""
    if output is not None:
        output = Path(output)
        path = output.with_suffix(".jsonl")
        return path if path != output else output.with_name(output.name + ".images.jsonl")
    if save_dir is not None:
        return Path(save_dir) / RESULTS_NAME
    return Path(f"deblur-eval_{_slug(dataset)}_{_slug(label)}.jsonl")


def run_label(model: ReadyModel | None = None, predictions: Path | str | None = None) -> str:
    """`<model>_<weights stem>` or the predictions folder's name, for default file names."""
    if model is not None:
        return f"{model.spec.name}_{Path(model.weights).stem}"
    return Path(predictions or "predictions").resolve().name


def save_report(run: EvaluationRun, path: Path | str) -> Path:
    """Write the run as pretty JSON (the `--json` document), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(run.as_dict(), indent=2) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"), DatasetError)


# --------------------------------------------------------------------------------------
# Model mode


class _RestoringSource:
    """The callable prediction source of `evaluate()`: restores each pending pair's blurry
    input and times the model. A blurry input that cannot be read or restored becomes a
    `Skipped` entry instead of stopping the run."""

    def __init__(self, restorer: Any) -> None:
        self.restorer = restorer
        self.seconds = 0.0
        self.restored = 0

    def __call__(self, pairs: Sequence[Pair]) -> Iterator[tuple[Pair, np.ndarray | Skipped]]:
        import numpy as np

        from .inference import RestoreError

        for pair in pairs:
            try:
                blurry = read_rgb(pair.blur).astype(np.float32) / 255
                image, stats = self.restorer.restore(blurry)
            except (ImageError, RestoreError) as exc:
                yield pair, Skipped(str(pair.blur), str(exc))
                continue
            self.seconds += stats.seconds
            self.restored += 1
            yield pair, image


def _model_identity(
    model: ReadyModel, tiles: TileSettings, precision: str, tta: bool
) -> dict[str, Any]:
    # The device and tile batch are left out on purpose: a run started on one GPU may be
    # resumed on another; everything that changes the restored pixels is in.
    weights = Path(model.weights)
    return {
        "model": model.spec.name,
        "weights": str(weights.resolve()) if weights.is_file() else model.weights,
        "tlc": model.tlc,
        "tile": tiles.tile,
        "overlap": tiles.overlap,
        "placement": tiles.placement,
        "blend": tiles.blend,
        "margin": tiles.margin,
        "precision": precision,
        "tta": tta,
    }


# --------------------------------------------------------------------------------------
# Running means for the progress callback


class _RunningMeans:
    def __init__(self, records: Sequence[ImageRecord]) -> None:
        self.count = 0
        self._psnr = 0.0
        self._ssim = 0.0
        for record in records:
            self.add(record)

    def add(self, record: ImageRecord) -> None:
        self.count += 1
        self._psnr += record.psnr
        self._ssim += record.ssim

    @property
    def psnr(self) -> float:
        return self._psnr / self.count if self.count else math.nan

    @property
    def ssim(self) -> float:
        return self._ssim / self.count if self.count else math.nan


def _resumed_records(dataset: Dataset, results: Path | str | None) -> list[ImageRecord]:
    if results is None or not Path(results).is_file():
        return []
    try:
        _, records = read_results(results)
    except (OSError, DeblurError):
        return []  # evaluate() reports the problem with the file
    wanted = {p.name for p in dataset.pairs}
    return list({r.name: r for r in records if r.name in wanted}.values())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"
