"""Timed forward passes and their statistics (protocols §5.1, §5.3).

Timing is bounded twice, autorange-style: warm-up stops after `warmup` passes or a share of the
time budget, timed runs after `iters` passes or the time budget, whichever comes first, and at
least one pass is timed. A pass is not started when the mean pass so far would overrun the
budget, so a model whose pass takes longer than the budget is timed once, not `iters` times.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..defaults import LATENCY_WARMUP_SHARE
from ..errors import ProfileError

Clock = Callable[[], float]


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds per forward pass over the timed runs.

    Attributes:
        runs: passes actually timed (fewer than asked when the time budget ran out).
        warmup_runs: untimed passes before them.
        seconds: the timed passes' milliseconds summed, in seconds.
    """

    median: float
    p10: float
    p90: float
    mean: float
    runs: int
    warmup_runs: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Budget:
    """When timing stops: `iters` timed passes or `seconds`, whichever first (None: no time
    limit, always `iters`); warm-up gets `warmup` passes or its share of `seconds`."""

    warmup: int
    iters: int
    seconds: float | None

    @property
    def warmup_seconds(self) -> float | None:
        return None if self.seconds is None else self.seconds * LATENCY_WARMUP_SHARE


def summarize_ms(samples_ms: list[float], warmup_runs: int = 0) -> LatencyStats:
    """Median, p10, p90 (linear interpolation, numpy's default) and mean of `samples_ms`."""
    if not samples_ms:
        raise ProfileError("no timing samples: at least one timed pass is needed")
    ordered = sorted(samples_ms)

    def pct(q: float) -> float:
        pos = (len(ordered) - 1) * q
        lo, hi = math.floor(pos), math.ceil(pos)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    return LatencyStats(
        median=statistics.median(ordered),
        p10=pct(0.10),
        p90=pct(0.90),
        mean=statistics.fmean(ordered),
        runs=len(ordered),
        warmup_runs=warmup_runs,
        seconds=sum(ordered) / 1000.0,
    )


def _another_pass_fits(passes: int, limit: int, spent: float, seconds: float | None) -> bool:
    """Start pass number `passes + 1`? Not past `limit`, nor when the mean pass so far would
    end beyond `seconds`."""
    if passes >= limit:
        return False
    if seconds is None or passes == 0:
        return True
    return spent + spent / passes <= seconds


def warm_up(fn: Callable[[], Any], budget: Budget, clock: Clock = time.perf_counter) -> int:
    """Run `fn` untimed up to `budget.warmup` times within the warm-up share; returns the count."""
    start, passes = clock(), 0
    while _another_pass_fits(passes, budget.warmup, clock() - start, budget.warmup_seconds):
        fn()
        passes += 1
    return passes


def time_passes(
    measure: Callable[[], float], budget: Budget, clock: Clock = time.perf_counter
) -> list[float]:
    """Call `measure` (returns one pass's milliseconds) until the budget says stop; at least once."""
    start = clock()
    samples = [measure()]
    while _another_pass_fits(len(samples), budget.iters, clock() - start, budget.seconds):
        samples.append(measure())
    return samples


def time_cpu(
    fn: Callable[[], Any], budget: Budget, clock: Clock = time.perf_counter
) -> LatencyStats:
    """Wall-clock milliseconds of each timed call of `fn`, after the warm-up."""
    warmed = warm_up(fn, budget, clock)

    def measure() -> float:
        start = clock()
        fn()
        return (clock() - start) * 1000.0

    return summarize_ms(time_passes(measure, budget, clock), warmed)


def time_cuda(
    fn: Callable[[], Any], budget: Budget, after_warm_up: Callable[[], None] = lambda: None
) -> LatencyStats:
    """CUDA-event milliseconds per call, synchronising after every run (protocols §5.1);
    `after_warm_up` runs between warm-up and timing (e.g. to reset the peak-memory counter)."""

    def synchronised() -> None:
        fn()
        torch.cuda.synchronize()

    warmed = warm_up(synchronised, budget)
    after_warm_up()
    return summarize_ms(time_passes(lambda: _cuda_pass_ms(fn), budget), warmed)


def _cuda_pass_ms(fn: Callable[[], Any]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return float(start.elapsed_time(end))
