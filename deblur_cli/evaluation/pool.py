"""Scoring in worker processes: a task reads the ground truth (and a prediction file), checks
sizes, saves the PNG when asked and scores the image (protocols.md §1.6). The pool keeps at
most two tasks per worker in flight and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics
from ..datasets import Pair
from ..errors import ImageError
from ..files import read_rgb
from .outputs import write_png
from .protocol import Protocol

Result = dict[str, Any]
"""An ImageRecord's fields, or {"name", "file", "error"} for an image that cannot be scored."""
OnResult = Callable[[Result, Pair], None]


@dataclass(frozen=True)
class Task:
    name: str
    sharp: Path
    prediction: Path | np.ndarray
    protocol: Protocol
    save_to: Path | None


def init_worker() -> None:
    # Ctrl-C in a terminal reaches the whole process group; only the parent decides what to
    # do (finish the images in flight, say how to resume), so workers never print a
    # KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # §1.6 / §6.2: ECC gains nothing from threads; parallelism comes from processes.
    # OpenCL is off because its first-use probe costs ~0.1 s per process and the metric
    # code runs on CPU arrays anyway.
    import cv2

    cv2.setNumThreads(1)
    cv2.ocl.setUseOpenCL(False)


def _problem(name: str, file: str, exc: ImageError) -> Result:
    # The file goes into `Skipped.file`, so the message need not start with it again.
    return {"name": name, "file": file, "error": str(exc).removeprefix(f"{file}: ")}


def score_task(task: Task) -> Result:
    """Score one image; a problem with this image is returned, not raised."""
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
        pred, gt, align=p.align, ssim_variant=p.ssim, ecc_iters=p.ecc_iters,
        quantize_pred=p.quantize,
    )  # fmt: skip
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


def cpu_count() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def worker_count(requested: int | None, pending: int) -> tuple[int, str | None]:
    """Scoring processes for `pending` images: `requested` (None = one per CPU core, 0 = none,
    score in this process) capped by the images to score and the CPU cores, since more
    processes than either only cost start-up time and memory. Returns (count, a note saying
    why an explicit request was capped, or None)."""
    if requested == 0 or pending == 0:
        return 0, None
    cores = cpu_count()
    wanted = cores if requested is None else requested
    count = min(wanted, pending, cores)
    if requested is None or count >= requested:
        return count, None
    why = f"{pending} images to score" if pending < cores else f"{cores} CPU cores"
    return count, f"{count} scoring processes instead of {requested}: {why}"


def score_all(tasks: Iterator[tuple[Task, Pair]], workers: int, on_result: OnResult) -> None:
    """Score every task, in this process (`workers` 0) or in a pool; `on_result` runs in this
    process as each score arrives. Ctrl-C (KeyboardInterrupt) is re-raised once the images
    already being scored are recorded."""
    if workers == 0:
        for task, pair in tasks:
            on_result(score_task(task), pair)
        return
    # spawn, not fork: the caller may hold torch/OpenMP threads, which fork does not survive.
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=init_worker)
    inflight: dict[Future[Result], Pair] = {}
    try:
        _start_workers(pool, workers)
        for task, pair in tasks:
            while len(inflight) >= 2 * workers:  # a fast stream cannot pile up images
                _drain(inflight, on_result, FIRST_COMPLETED)
            inflight[pool.submit(score_task, task)] = pair
        while inflight:
            _drain(inflight, on_result, FIRST_COMPLETED)
    except KeyboardInterrupt:
        _stop(inflight, on_result)
        raise
    except Exception:
        # The stream failed (e.g. the model raised): keep what is already being scored,
        # so that a resumed run does not redo it, then re-raise.
        while inflight:
            _drain(inflight, on_result, ALL_COMPLETED)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _start_workers(pool: ProcessPoolExecutor, workers: int) -> None:
    """Start every worker now, with SIGINT blocked while they are created: a worker inherits
    the blocked signal, so a Ctrl-C while it is still importing (before `init_worker` runs)
    cannot print its traceback either. The parent gets a Ctrl-C pressed meanwhile as soon as
    the signal is unblocked (a blocked signal waits; it is not lost)."""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: workers start on first use
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        for _ in range(workers):  # each submit starts one more process while none is idle
            pool.submit(os.getpid)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop(inflight: dict[Future[Result], Pair], on_result: OnResult) -> None:
    """Ctrl-C: drop the queued images and record those being scored (the workers ignore
    SIGINT and finish them within seconds), so that a resumed run does not redo them."""
    for future in list(inflight):
        if future.cancel():
            del inflight[future]
    while inflight:
        _drain(inflight, on_result, ALL_COMPLETED)


def _drain(inflight: dict[Future[Result], Pair], on_result: OnResult, when: str) -> None:
    finished, _ = wait(inflight, return_when=when)
    for future in finished:
        on_result(future.result(), inflight.pop(future))
