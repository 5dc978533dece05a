"""Learning rate per optimizer step: optional linear warm-up, then cosine annealing to `min_lr`
(protocols §3.1: stepped per optimizer step; §3.6 bug 1: the configured `min_lr` is honoured).

A pure function of the step, so resuming needs only the step count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import ScheduleSection


@dataclass(frozen=True)
class Schedule:
    """`lr(step)` is the LR of the update that turns `step` done steps into `step + 1`.

    Cosine: lr = min_lr + (base − min_lr) · (1 + cos(π · t / T)) / 2 with t = step − warmup and
    T = total − warmup, the closed form of torch's CosineAnnealingLR(T_max = T, eta_min =
    min_lr). Warm-up: base · (step + 1) / warmup for the first `warmup` updates.
    """

    base_lr: float
    min_lr: float
    total: int
    warmup: int = 0
    kind: str = "cosine"

    @classmethod
    def from_section(cls, section: ScheduleSection, base_lr: float, total: int) -> Schedule:
        return cls(base_lr, section.min_lr, total, section.warmup, section.kind)

    def lr(self, step: int) -> float:
        if step < self.warmup:
            return self.base_lr * (step + 1) / self.warmup
        if self.kind == "constant":
            return self.base_lr
        span = max(self.total - self.warmup, 1)
        t = min(step - self.warmup, span)
        return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (
            1.0 + math.cos(math.pi * t / span)
        )

    def state_dict(self, step: int) -> dict[str, float | int | str]:
        """What a checkpoint records about the schedule (the LR is recomputed from the step)."""
        return {
            "kind": self.kind,
            "base_lr": self.base_lr,
            "min_lr": self.min_lr,
            "total": self.total,
            "warmup": self.warmup,
            "step": step,
            "lr": self.lr(step),
        }
