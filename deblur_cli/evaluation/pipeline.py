"""The model-free scoring pipeline: pairs + predictions (a folder in the official layout, or
arrays streamed by a model-running caller) -> per-image scores in worker processes, streamed
to a resumable results file, summarised in one `EvaluationReport` (protocols.md §1.6)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics
from ..datasets import Dataset, Pair, Skipped
from ..errors import DatasetError, InvalidArgumentError
from .outputs import CSV_NAME, check_save_dir, write_metrics_csv
from .pool import Result, Task, score_all, worker_count
from .protocol import Protocol, default_protocol
from .report import EvalProgress, EvaluationReport, ImageRecord, Means, StageSeconds
from .results import ResultsWriter, open_results

PredictionStream = Iterable[tuple[Pair, np.ndarray | Skipped]]
# A folder of PNGs named like `Pair.name`, a stream of (pair, float32 H×W×3 RGB in [0, 1], or a
# `Skipped` when the producer could not make that prediction, e.g. an unreadable blurry input),
# or a callable that builds the stream from the pairs still to score (so that a resumed run
# never runs the model on images already in the results file).
PredictionSource = Path | str | PredictionStream | Callable[[Sequence[Pair]], PredictionStream]


@dataclass
class _Tally:
    """What one `evaluate` call has so far: records (resumed ones included), skipped items,
    missing predictions; it writes each new record and tells the progress callback."""

    dataset: Dataset
    records: dict[str, ImageRecord]
    writer: ResultsWriter | None
    progress: Callable[[EvalProgress], None] | None
    skipped: list[Skipped] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    _psnr: float = 0.0
    _ssim: float = 0.0

    def __post_init__(self) -> None:
        self.skipped = list(self.dataset.skipped)
        for record in self.records.values():
            self._psnr += record.psnr
            self._ssim += record.ssim

    def skip(self, pair: Pair, item: Skipped, *, missing: bool = False) -> None:
        self.skipped.append(item)
        if missing:
            self.missing.append(pair.name)
        self._notify(pair, None, item)

    def add(self, result: Result, pair: Pair) -> None:
        """A worker's result: a record, or the reason the image could not be scored."""
        if "error" in result:
            self.skip(pair, Skipped(result.get("file", str(pair.sharp)), result["error"]))
            return
        record = ImageRecord.from_dict(result)
        self.records[record.name] = record
        self._psnr += record.psnr
        self._ssim += record.ssim
        if self.writer is not None:
            self.writer.write(record)
        self._notify(pair, record, None)

    def _notify(self, pair: Pair, record: ImageRecord | None, problem: Skipped | None) -> None:
        if self.progress is None:
            return
        n = len(self.records)
        done = n + len(self.skipped) - len(self.dataset.skipped)
        psnr, ssim = (self._psnr / n, self._ssim / n) if n else (np.nan, np.nan)
        self.progress(
            EvalProgress(done, len(self.dataset.pairs), pair.name, record, problem, n, psnr, ssim)
        )


def _folder_tasks(
    folder: Path, pending: Sequence[Pair], protocol: Protocol, tally: _Tally
) -> Iterator[tuple[Task, Pair]]:
    """One task per pending pair whose prediction file exists; the others are missing."""
    for pair in pending:
        path = folder / pair.name
        if not path.is_file():
            tally.skip(pair, Skipped(str(path), "missing prediction"), missing=True)
            continue
        yield Task(pair.name, pair.sharp, path, protocol, None), pair


def _check_prediction(image: np.ndarray, pair: Pair) -> str | None:
    shape = getattr(image, "shape", None)
    if shape is None or len(shape) != 3 or shape[2] != 3:
        return f"prediction has shape {shape}, expected H×W×3 RGB"
    if pair.size is not None and tuple(shape[:2]) != pair.size:
        h, w = pair.size
        return f"prediction is {shape[0]}x{shape[1]}, ground truth is {h}x{w}"
    return None


def _stream_tasks(
    predictions: PredictionStream | Callable[[Sequence[Pair]], PredictionStream],
    pending: Sequence[Pair],
    protocol: Protocol,
    out_dir: Path | None,
    tally: _Tally,
) -> Iterator[tuple[Task, Pair]]:
    """One task per streamed prediction of a pending pair; pairs never streamed are missing."""
    by_name = {p.name: p for p in pending}
    stream = predictions(pending) if callable(predictions) else predictions
    seen: set[str] = set()
    for pair, image in stream:
        if pair.name in tally.records or pair.name in seen:
            continue
        if pair.name not in by_name:
            raise DatasetError(
                f"prediction for {pair.name!r}, which is not in {tally.dataset.source}"
            )
        seen.add(pair.name)
        if isinstance(image, Skipped):
            tally.skip(pair, image)
            continue
        problem = _check_prediction(image, pair)
        if problem:
            tally.skip(pair, Skipped(str(pair.blur), problem))
            continue
        image = metrics.as_uint8(image) if protocol.quantize else np.asarray(image, np.float32)
        save_to = out_dir / pair.name if out_dir is not None else None
        yield Task(pair.name, pair.sharp, image, protocol, save_to), pair
    for pair in pending:
        if pair.name not in seen:
            tally.skip(pair, Skipped(str(pair.blur), "no prediction supplied"), missing=True)


def _predictions_folder(predictions: PredictionSource) -> Path | None:
    if isinstance(predictions, (str, os.PathLike)):
        folder = Path(predictions)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: predictions folder not found")
        return folder
    return None


def _open_tally(
    dataset: Dataset,
    protocol: Protocol,
    results: Path | str | None,
    *,
    resume: bool,
    overwrite: bool,
    source: dict[str, Any] | None,
    progress: Callable[[EvalProgress], None] | None,
) -> tuple[_Tally, list[str]]:
    """The tally, holding the records resumed from `results`, and notes for the report."""
    if results is None:
        if resume:
            raise InvalidArgumentError("resume needs a results file")
        return _Tally(dataset, {}, None, progress), []
    header: dict[str, Any] = {"dataset": dataset.name, "protocol": protocol.as_dict()}
    if source is not None:
        header["source"] = source
    opened = open_results(results, header, resume=resume, overwrite=overwrite)
    wanted = {p.name for p in dataset.pairs}
    done = {r.name: r for r in opened.records if r.name in wanted}
    notes = []
    if opened.kept_aside is not None:
        notes.append(f"the earlier results file was kept as {opened.kept_aside}")
    return _Tally(dataset, done, opened.writer, progress), notes


def _summary(
    dataset: Dataset, tally: _Tally, started: float
) -> tuple[tuple[ImageRecord, ...], StageSeconds]:
    """The records in dataset order and the time spent; no record at all is an error."""
    ordered = tuple(tally.records[p.name] for p in dataset.pairs if p.name in tally.records)
    if not ordered:
        first = f" (first problem: {tally.skipped[0]})" if tally.skipped else ""
        raise DatasetError(f"{dataset.source}: no image could be scored{first}")
    seconds = StageSeconds(
        inference=None,
        alignment=sum(r.align_seconds for r in ordered),
        metrics=sum(r.metric_seconds for r in ordered),
        wall=time.perf_counter() - started,
    )
    return ordered, seconds


def evaluate(
    dataset: Dataset,
    predictions: PredictionSource,
    *,
    protocol: Protocol | None = None,
    workers: int | None = None,
    results: Path | str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    save_dir: Path | str | None = None,
    progress: Callable[[EvalProgress], None] | None = None,
    source: dict[str, Any] | None = None,
) -> EvaluationReport:
    """Score predictions for `dataset` and summarise them.

    Args:
        predictions: a folder holding `<pair.name>` files (`scene230_7.png` for RealBlur,
            `<seq>/<frame>.png` for GoPro, the blur-side relative path for paired folders,
            as the official script and `save_dir` lay them out); or a stream of (pair,
            float32 H×W×3 RGB in [0, 1]); or a callable turning the pending pairs into one.
        protocol: defaults to `default_protocol(dataset.name)`.
        workers: scoring processes (None: one per CPU core; 0: in this process), capped by
            the images to score and the CPU cores (the report's notes say so). Each runs
            OpenCV single-threaded; a streamed source is consumed in this process, so
            inference overlaps alignment.
        results: JSONL file that receives each result as soon as it is known.
        resume: keep the records already in `results` and score only the rest.
        overwrite: start again over a `results` file holding an earlier run's scores, which
            is kept aside (renamed `<name>.<date-time>.bak`); without it that is refused.
        save_dir: write streamed predictions there as 8-bit PNGs under their official names
            (not for a predictions folder) and the per-image `metrics.csv`.
        progress: called after each image.
        source: what produced the predictions (model, weights, tiles, or a folder), written
            to the results header; resuming a file written for another source is refused.

    Raises:
        DatasetError: no image could be scored, predictions folder missing, save_dir inside
            the dataset. ResultsFileError: results file unreadable, different, or would be
            lost. KeyboardInterrupt: after recording the images being scored.
    """
    started = time.perf_counter()
    protocol = protocol or default_protocol(dataset.name)
    if workers is not None and workers < 0:
        raise InvalidArgumentError("workers must be >= 0")
    out_dir = check_save_dir(save_dir, dataset) if save_dir is not None else None
    folder = _predictions_folder(predictions)
    tally, notes = _open_tally(
        dataset, protocol, results, resume=resume, overwrite=overwrite, source=source,
        progress=progress,
    )  # fmt: skip
    resumed = len(tally.records)
    pending = [p for p in dataset.pairs if p.name not in tally.records]
    count, capped = worker_count(workers, len(pending))
    notes += [capped] if capped else []
    if folder is not None:
        tasks = _folder_tasks(folder, pending, protocol, tally)
    else:
        tasks = _stream_tasks(predictions, pending, protocol, out_dir, tally)  # type: ignore[arg-type]
    try:
        score_all(tasks, count, tally.add)
    finally:
        if tally.writer is not None:
            tally.writer.close()
    images, seconds = _summary(dataset, tally, started)
    if out_dir is not None:
        write_metrics_csv(out_dir / CSV_NAME, images)
    return EvaluationReport(
        dataset=dataset.name,
        source=str(dataset.source),
        protocol=protocol.as_dict(),
        mean=Means.of(images),
        count=len(images),
        ecc_failures=sum(r.ecc_ok is False for r in images),
        skipped=tuple(tally.skipped),
        missing=tuple(tally.missing),
        resumed=resumed,
        workers=count,
        seconds=seconds,
        model=None,
        predictions=str(folder) if folder is not None else None,
        results_path=str(results) if results is not None else None,
        save_dir=str(save_dir) if save_dir is not None else None,
        images=images,
        notes=tuple(notes),
    )
