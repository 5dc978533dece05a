"""Model-free scoring pipeline: pairs + predictions (a folder in the official layout, or arrays
streamed by a model-running caller) -> per-image scores in worker processes, streamed to a
resumable JSONL file, summarised in a frozen `EvaluationReport` (protocols.md §1.6).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .defaults import ECC_ITERS
from .datasets import Dataset, Pair, Skipped, read_rgb
from .errors import DatasetError, ImageError
from .files import atomic_write_bytes

PredictionStream = Iterable[tuple[Pair, np.ndarray | Skipped]]
# A folder of PNGs named like `Pair.name`, a stream of (pair, float32 H×W×3 RGB in [0, 1], or a
# `Skipped` when the producer could not make that prediction, e.g. an unreadable blurry input),
# or a callable that builds the stream from the pairs still to score (so that a resumed run
# never runs the model on images already in the results file).
PredictionSource = Path | str | PredictionStream | Callable[[Sequence[Pair]], PredictionStream]

CSV_NAME = "metrics.csv"
_PROTOCOL_KEYS = ("align", "ssim", "ecc_iters", "quantize")


@dataclass(frozen=True)
class Protocol:
    """How images are scored. `align` selects §1.1 (ECC, masked, `ssim` must be `realblur`);
    otherwise §1.3 with the `ssim` convention. `quantize` rounds float predictions to 8 bits."""

    align: bool
    ssim: str
    ecc_iters: int = ECC_ITERS
    quantize: bool = True

    def __post_init__(self) -> None:
        if self.ssim not in metrics.SSIM_VARIANTS:
            raise ValueError(f"unknown SSIM variant {self.ssim!r}; choose {metrics.SSIM_VARIANTS}")
        if self.align and self.ssim != "realblur":
            raise ValueError("ECC alignment is only defined with the 'realblur' SSIM (§1.1)")
        if self.ecc_iters < 1:
            raise ValueError("ecc_iters must be at least 1")

    def as_dict(self) -> dict[str, Any]:
        """The protocol plus the library versions, as recorded in reports (§1.6)."""
        return {
            "align": "ecc" if self.align else "none",
            "ssim": self.ssim,
            "ecc_iters": self.ecc_iters if self.align else None,
            "quantize": self.quantize,
            "libraries": metrics.library_versions(),
        }


def default_protocol(
    dataset: str,
    *,
    align: bool | None = None,
    ssim: str | None = None,
    ecc_iters: int = ECC_ITERS,
    quantize: bool = True,
) -> Protocol:
    """§1.6 defaults: RealBlur -> ECC + masked SSIM; GoPro and paired folders -> no alignment
    + `ssim3d` (§1.3). `align=True` on paired folders enables the RealBlur protocol."""
    if align is None:
        align = dataset.startswith("realblur")
    if ssim is None:
        ssim = "realblur" if align else "ssim3d"
    return Protocol(align=align, ssim=ssim, ecc_iters=ecc_iters, quantize=quantize)


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
class EvalProgress:
    """Sent to the progress callback after each scored (or skipped) image."""

    done: int
    total: int
    name: str
    record: ImageRecord | None
    skipped: Skipped | None = None  # why the image was not scored (record is then None)


@dataclass(frozen=True)
class EvaluationReport:
    """Result of `evaluate`. Means are arithmetic means of the per-image values (§1.4);
    an image with identical prediction and GT has PSNR inf and the mean is then inf.

    Attributes:
        skipped: items not scored, with reasons: bad pairs from loading, missing or
            unreadable predictions, size mismatches.
        missing: names of the pairs that had no prediction (also listed in `skipped`).
        images: per-image records in dataset order (resumed ones included).
        resumed: how many records were read back from the results file.
        align_seconds / metric_seconds: summed over `images` (time inside the workers).
        wall_seconds: this call, end to end.
    """

    dataset: str
    protocol: dict[str, Any]
    psnr: float
    ssim: float
    count: int
    ecc_failures: int
    skipped: tuple[Skipped, ...]
    missing: tuple[str, ...]
    images: tuple[ImageRecord, ...]
    resumed: int
    workers: int
    align_seconds: float
    metric_seconds: float
    wall_seconds: float
    results_path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (inf PSNR stays a float; `json.dumps` writes it as Infinity)."""
        return asdict(self)


# --------------------------------------------------------------------------------------
# Worker side


@dataclass(frozen=True)
class _Task:
    name: str
    sharp: Path
    prediction: Path | np.ndarray
    protocol: Protocol
    save_to: Path | None


def _init_worker() -> None:
    # §1.6 / §6.2: ECC gains nothing from threads; parallelism comes from processes.
    # OpenCL is off because its first-use probe costs ~0.1 s per process and the metric
    # code runs on CPU arrays anyway.
    import cv2

    cv2.setNumThreads(1)
    cv2.ocl.setUseOpenCL(False)


def _score_task(task: _Task) -> dict[str, Any]:
    """Score one image; a problem with this image is returned as {"name", "file", "error"}."""
    pred_file = str(task.prediction) if isinstance(task.prediction, Path) else task.name
    try:
        gt = read_rgb(task.sharp)
    except ImageError as exc:
        return _problem(task.name, str(task.sharp), exc)
    try:
        pred = read_rgb(task.prediction) if isinstance(task.prediction, Path) else task.prediction
    except ImageError as exc:
        return _problem(task.name, pred_file, exc)
    if pred.shape != gt.shape:
        return {
            "name": task.name,
            "file": pred_file,
            "error": f"prediction is {pred.shape[0]}x{pred.shape[1]}, "
            f"ground truth {task.sharp} is {gt.shape[0]}x{gt.shape[1]}",
        }
    if task.save_to is not None:
        write_png(task.save_to, pred)
    p = task.protocol
    score = metrics.score_image(
        pred,
        gt,
        align=p.align,
        ssim_variant=p.ssim,
        ecc_iters=p.ecc_iters,
        quantize_pred=p.quantize,
    )
    return {
        "name": task.name,
        "height": gt.shape[0],
        "width": gt.shape[1],
        "psnr": score.psnr,
        "ssim": score.ssim,
        "ecc_ok": score.ecc_ok,
        "gain": score.gain,
        "warp": list(score.warp) if score.warp is not None else None,
        "ecc_cc": score.ecc_cc,
        "valid_fraction": score.valid_fraction,
        "align_seconds": score.align_seconds,
        "metric_seconds": score.metric_seconds,
    }


def _problem(name: str, file: str, exc: ImageError) -> dict[str, Any]:
    # The file goes into `Skipped.file`, so the message need not start with it again.
    return {"name": name, "file": file, "error": str(exc).removeprefix(f"{file}: ")}


# --------------------------------------------------------------------------------------
# Results file (JSONL: a header line with the protocol, then one line per image)


def read_results(path: Path | str) -> tuple[dict[str, Any] | None, list[ImageRecord]]:
    """Header and records of a results file. A torn last line (interrupted write) is
    ignored; any other unreadable line is an error."""
    path = Path(path)
    header: dict[str, Any] | None = None
    records: list[ImageRecord] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if "protocol" in data and "name" not in data:
                header = data
            else:
                records.append(ImageRecord.from_dict(data))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if number == len(lines):  # torn final line, no newline after it
                break
            raise DatasetError(f"{path}:{number}: not a results line") from None
    return header, records


def _open_results(
    path: Path, dataset: str, protocol: Protocol, resume: bool, source: dict[str, Any] | None
) -> tuple[Any, list[ImageRecord]]:
    header_line: dict[str, Any] = {"dataset": dataset, "protocol": protocol.as_dict()}
    if source is not None:
        header_line["source"] = source
    if resume and path.is_file():
        header, records = read_results(path)
        if header is not None:
            old = header.get("protocol", {})
            mine = header_line["protocol"]
            changed = [k for k in _PROTOCOL_KEYS if old.get(k) != mine[k]]
            if header.get("dataset") != dataset:
                changed.insert(0, "dataset")
            if source is not None and header.get("source") != source:
                changed.append("prediction source")
            if changed:
                raise DatasetError(
                    f"{path}: written with a different {', '.join(changed)}; "
                    "resume with the same settings or use another results file"
                )
        text = path.read_text(encoding="utf-8")
        keep = text[: text.rfind("\n") + 1]  # drop a torn last line before appending
        fh = path.open("w", encoding="utf-8")
        fh.write(keep)
        if header is None:
            fh.write(json.dumps(header_line) + "\n")
        fh.flush()
        return fh, records
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("w", encoding="utf-8")
    fh.write(json.dumps(header_line) + "\n")
    fh.flush()
    return fh, []


# --------------------------------------------------------------------------------------
# Saving predictions (datasets.md §5)


def check_save_dir(save_dir: Path | str, dataset: Dataset) -> Path:
    """`save_dir`, refused when it lies inside the dataset tree (§5: never write next to the
    data, unlike the seed's `scene/pred/` folders)."""
    target = Path(save_dir).resolve()
    root = dataset.root.resolve()
    zones = {root} if root.parent != root else set()  # a tree at "/" would forbid everything
    for pair in dataset.pairs:
        zones.add(pair.sharp.parent.resolve())
        zones.add(pair.blur.parent.resolve())
    for zone in zones:
        if target == zone or zone in target.parents:
            raise DatasetError(f"{save_dir}: inside the dataset tree {zone}; choose another folder")
    return target


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 (or float in [0, 1], rounded as in §1.1) image as 8-bit PNG,
    atomically (temporary file, then rename)."""
    import cv2

    pixels = metrics.as_uint8(image)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(pixels[:, :, ::-1]))
    if not ok:
        raise ImageError(f"{path}: cannot encode PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, encoded.tobytes(), ImageError)


def save_prediction(save_dir: Path, pair: Pair, image: np.ndarray) -> Path:
    """Write one prediction under its official name (`scene230_7.png`, ...)."""
    return write_png(save_dir / pair.name, image)


def write_metrics_csv(path: Path | str, records: Iterable[ImageRecord]) -> Path:
    """Per-image CSV (name, H, W, PSNR, SSIM, ECC status, gain, correlation, warp)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["name", "height", "width", "psnr", "ssim", "ecc_ok", "gain", "ecc_cc"]
    columns += ["valid_fraction", "warp"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for r in records:
            warp = " ".join(f"{v:.9g}" for v in r.warp) if r.warp is not None else ""
            writer.writerow(
                [r.name, r.height, r.width, f"{r.psnr:.6f}", f"{r.ssim:.6f}", _csv(r.ecc_ok)]
                + [_csv(r.gain), _csv(r.ecc_cc), f"{r.valid_fraction:.6f}", warp]
            )
    return path


def _csv(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ok" if value else "failed"
    return f"{value:.9g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------------------
# The pipeline


def evaluate(
    dataset: Dataset,
    predictions: PredictionSource,
    *,
    protocol: Protocol | None = None,
    workers: int | None = None,
    results: Path | str | None = None,
    resume: bool = False,
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
        workers: scoring processes (default: CPU count); each runs OpenCV single-threaded
            and the caller's stream is consumed in this process, so inference overlaps
            alignment. 0 scores in this process (no pool).
        results: JSONL file that receives each result as soon as it is known.
        resume: keep the records already in `results` and score only the rest.
        save_dir: write streamed predictions there as 8-bit PNGs under their official names
            (not for a predictions folder) and the per-image `metrics.csv`.
        progress: called after each image.
        source: what produced the predictions (model, weights, tiles, or a folder), written
            to the results header; resuming a file written for another source is refused.
    """
    started = time.perf_counter()
    protocol = protocol or default_protocol(dataset.name)
    workers = _cpu_count() if workers is None else workers
    if workers < 0:
        raise ValueError("workers must be >= 0")
    out_dir = check_save_dir(save_dir, dataset) if save_dir is not None else None
    pred_dir = _predictions_folder(predictions)

    fh = None
    done: dict[str, ImageRecord] = {}
    if results is not None:
        fh, old = _open_results(Path(results), dataset.name, protocol, resume, source)
        wanted = {p.name for p in dataset.pairs}
        done = {r.name: r for r in old if r.name in wanted}
    elif resume:
        raise ValueError("resume needs a results file")
    resumed = len(done)
    pending = [p for p in dataset.pairs if p.name not in done]

    skipped = list(dataset.skipped)
    missing: list[str] = []
    records = dict(done)
    total = len(dataset.pairs)

    def notify(pair: Pair, record: ImageRecord | None, problem: Skipped | None = None) -> None:
        if progress is not None:
            done_now = len(records) + len(skipped) - len(dataset.skipped)
            progress(EvalProgress(done_now, total, pair.name, record, problem))

    def skip(pair: Pair, item: Skipped, is_missing: bool = False) -> None:
        skipped.append(item)
        if is_missing:
            missing.append(pair.name)
        notify(pair, None, item)

    def on_result(result: dict[str, Any], pair: Pair) -> None:
        if "error" in result:
            skip(pair, Skipped(result.get("file", str(pair.sharp)), result["error"]))
            return
        record = ImageRecord.from_dict(result)
        records[record.name] = record
        if fh is not None:
            fh.write(json.dumps(asdict(record)) + "\n")
            fh.flush()
        notify(pair, record)

    def tasks() -> Iterator[tuple[_Task, Pair]]:
        if pred_dir is not None:
            for pair in pending:
                path = pred_dir / pair.name
                if not path.is_file():
                    skip(pair, Skipped(str(path), "missing prediction"), is_missing=True)
                    continue
                yield _Task(pair.name, pair.sharp, path, protocol, None), pair
            return
        by_name = {p.name: p for p in pending}
        stream = predictions(pending) if callable(predictions) else predictions
        seen: set[str] = set()
        for pair, image in stream:  # type: ignore[union-attr]
            if pair.name in done or pair.name in seen:
                continue
            if pair.name not in by_name:
                raise DatasetError(
                    f"prediction for {pair.name!r}, which is not in {dataset.source}"
                )
            seen.add(pair.name)
            if isinstance(image, Skipped):
                skip(pair, image)
                continue
            problem = _check_prediction(image, pair)
            if problem:
                skip(pair, Skipped(str(pair.blur), problem))
                continue
            image = metrics.as_uint8(image) if protocol.quantize else np.asarray(image, np.float32)
            save_to = out_dir / pair.name if out_dir is not None else None
            yield _Task(pair.name, pair.sharp, image, protocol, save_to), pair
        for pair in pending:
            if pair.name not in seen:
                skip(pair, Skipped(str(pair.blur), "no prediction supplied"), is_missing=True)

    try:
        if workers == 0:
            for task, pair in tasks():
                on_result(_score_task(task), pair)
        else:
            _run_pool(tasks(), workers, on_result)
    finally:
        if fh is not None:
            fh.close()

    ordered = tuple(records[p.name] for p in dataset.pairs if p.name in records)
    if not ordered:
        first = f" (first problem: {skipped[0]})" if skipped else ""
        raise DatasetError(f"{dataset.source}: no image could be scored{first}")
    if out_dir is not None:
        write_metrics_csv(out_dir / CSV_NAME, ordered)
    return EvaluationReport(
        dataset=dataset.name,
        protocol=protocol.as_dict(),
        psnr=_mean([r.psnr for r in ordered]),
        ssim=_mean([r.ssim for r in ordered]),
        count=len(ordered),
        ecc_failures=sum(r.ecc_ok is False for r in ordered),
        skipped=tuple(skipped),
        missing=tuple(missing),
        images=ordered,
        resumed=resumed,
        workers=workers,
        align_seconds=sum(r.align_seconds for r in ordered),
        metric_seconds=sum(r.metric_seconds for r in ordered),
        wall_seconds=time.perf_counter() - started,
        results_path=str(results) if results is not None else None,
    )


def _run_pool(
    tasks: Iterator[tuple[_Task, Pair]],
    workers: int,
    on_result: Callable[[dict[str, Any], Pair], None],
) -> None:
    # spawn, not fork: the caller may hold torch/OpenMP threads, which fork does not survive.
    # At most 2 tasks per worker are in flight, so a fast stream cannot pile up images.
    limit = 2 * workers
    with ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_init_worker
    ) as pool:
        inflight: dict[Future[dict[str, Any]], Pair] = {}
        try:
            for task, pair in tasks:
                while len(inflight) >= limit:
                    _drain(inflight, on_result, FIRST_COMPLETED)
                inflight[pool.submit(_score_task, task)] = pair
        except Exception:
            # The stream failed (e.g. the model raised): keep what is already being scored,
            # so that a resumed run does not redo it, then re-raise.
            while inflight:
                _drain(inflight, on_result, ALL_COMPLETED)
            raise
        except BaseException:  # Ctrl-C: stop now
            for fut in inflight:
                fut.cancel()
            raise
        while inflight:
            _drain(inflight, on_result, FIRST_COMPLETED)


def _drain(
    inflight: dict[Future[dict[str, Any]], Pair],
    on_result: Callable[[dict[str, Any], Pair], None],
    when: str,
) -> None:
    finished, _ = wait(inflight, return_when=when)
    for fut in finished:
        pair = inflight.pop(fut)
        on_result(fut.result(), pair)


def _predictions_folder(predictions: PredictionSource) -> Path | None:
    if isinstance(predictions, (str, os.PathLike)):
        folder = Path(predictions)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: predictions folder not found")
        return folder
    return None


def _check_prediction(image: np.ndarray, pair: Pair) -> str | None:
    shape = getattr(image, "shape", None)
    if shape is None or len(shape) != 3 or shape[2] != 3:
        return f"prediction has shape {shape}, expected H×W×3 RGB"
    if pair.size is not None and tuple(shape[:2]) != pair.size:
        h, w = pair.size
        return f"prediction is {shape[0]}x{shape[1]}, ground truth is {h}x{w}"
    return None


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
