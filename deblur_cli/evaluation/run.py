"""One evaluation run as a function: a dataset scored from a predictions folder or from a model
restoring the blurry inputs while worker processes align and score (protocols.md §1.6), with
inference timed apart from alignment and metrics. Used by `deblur evaluate` and `deblur benchmark`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..datasets import Dataset, Pair, Skipped
from ..errors import DatasetError, ImageError, RestoreError
from ..files import read_rgb
from .pipeline import evaluate
from .pool import cpu_count
from .protocol import Protocol, default_protocol
from .report import EvalProgress, EvaluationReport, ModelRun

if TYPE_CHECKING:  # the inference stack imports torch: only model mode loads it
    import torch

    from ..inference import ReadyModel, Restorer, TileSettings


class _RestoringSource:
    """The callable prediction source of `evaluate()`: restores each pending pair's blurry
    input and times the model. A blurry input that cannot be read or restored becomes a
    `Skipped` entry instead of stopping the run."""

    def __init__(self, restorer: Restorer) -> None:
        self.restorer = restorer
        self.seconds = 0.0
        self.restored = 0

    def __call__(self, pairs: Sequence[Pair]) -> Iterator[tuple[Pair, np.ndarray | Skipped]]:
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


def _model_run(model: ReadyModel, source: _RestoringSource, precision: str, tta: bool) -> ModelRun:
    used = source.restorer.tiles
    return ModelRun(
        model=model.spec.name,
        weights=model.weights,
        tlc=model.tlc,
        tile=used.tile,
        overlap=used.overlap,
        tile_batch=used.tile_batch,
        placement=used.placement,
        blend=used.blend,
        device=str(source.restorer.device),
        precision=precision,
        tta=tta,
        restored=source.restored,
    )


class _CpuShare:
    """Model on the CPU: torch gets the cores the scoring workers leave free for the run, and
    its thread count is restored afterwards. Inference dominates there, and torch's OpenMP
    threads sharing busy cores ran a small model ~100x slower on a 2-core machine."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.threads: int | None = None

    def __enter__(self) -> _CpuShare:
        import torch

        self.threads = torch.get_num_threads()
        torch.set_num_threads(max(1, min(self.threads, cpu_count() - self.workers)))
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)


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
    engine: Callable[[torch.Tensor], torch.Tensor] | None = None,
    limit: int | None = None,
    results: Path | str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    save_dir: Path | str | None = None,
    progress: Callable[[EvalProgress], None] | None = None,
) -> EvaluationReport:
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
        model: a loaded network with trained weights (`inference.load_for_inference`).
        tiles: tile settings; None = the model's registry defaults for the device.
        engine: replaces the model's forward (`Restorer(engine=...)`, e.g. `export.OnnxEngine`).
        protocol: None = `default_protocol(dataset.name)` (RealBlur: ECC, `defaults.ECC_ITERS`).
        workers: scoring processes (None = CPU count, 0 = score in this process), capped by
            the images to score and the cores. When the model runs on the CPU, None means 1
            and torch gets the other cores for the run (see `_CpuShare`).
        limit: score only the first N pairs, in dataset order.
        results: JSONL file receiving each record as it is scored (see
            `default_results_path`); required for `resume`. Its header records the protocol
            and the prediction source, and resuming with different ones is refused.
        resume: keep the records already in `results` and score (and restore) only the rest.
        overwrite: start again over an earlier run's `results`, which is kept aside.
        save_dir: write the 8-bit PNG predictions (model mode) under their official names and
            `metrics.csv`; refused inside the dataset tree.
        progress: called after each image, with running means.

    Raises:
        DatasetError: bad arguments, or no image could be scored.
        ResultsFileError: the results file is unreadable, different, or would be lost.
        DeblurError: device or precision the model cannot use.
        KeyboardInterrupt: Ctrl-C, once the images being scored are in the results file.
    """
    started = time.perf_counter()
    if (predictions is None) == (model is None):
        raise DatasetError("give either a predictions folder or a model, not both or neither")
    if limit is not None:
        if limit < 1:
            raise DatasetError("limit must be at least 1")
        dataset = replace(dataset, pairs=dataset.pairs[:limit])
    protocol = protocol or default_protocol(dataset.name)
    common: dict[str, Any] = dict(
        protocol=protocol, results=results, resume=resume, overwrite=overwrite,
        save_dir=save_dir, progress=progress,
    )  # fmt: skip
    if model is None:
        folder = Path(predictions)  # type: ignore[arg-type]
        source = {"predictions": str(folder.resolve())}
        report = evaluate(dataset, folder, workers=workers, source=source, **common)
        return replace(report, seconds=replace(report.seconds, wall=time.perf_counter() - started))

    from ..inference import Restorer

    restorer = Restorer(
        model.model, model.spec, device=device, precision=precision, tiles=tiles, tta=tta,
        engine=engine,
    )
    restoring = _RestoringSource(restorer)
    source = _model_identity(model, restorer.tiles, precision, tta)
    if restorer.device.type == "cpu":
        workers = 1 if workers is None else workers
        with _CpuShare(workers):
            report = evaluate(dataset, restoring, workers=workers, source=source, **common)
    else:
        report = evaluate(dataset, restoring, workers=workers, source=source, **common)
    seconds = replace(
        report.seconds, inference=restoring.seconds, wall=time.perf_counter() - started
    )
    return replace(report, model=_model_run(model, restoring, precision, tta), seconds=seconds)


def run_label(model: ReadyModel | None = None, predictions: Path | str | None = None) -> str:
    """`<model>_<weights stem>` or the predictions folder's name, for default file names."""
    if model is not None:
        return f"{model.spec.name}_{Path(model.weights).stem}"
    return Path(predictions or "predictions").resolve().name
