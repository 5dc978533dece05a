"""What the training core hands back: the run options it takes, the plan it resolves (printed at
start and by `--dry-run`), the progress events it reports through a callback, and the final
`TrainReport` (`--json`). Frozen dataclasses; the CLI renders them, the core never prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .validate import ValResult


@dataclass(frozen=True)
class RunOptions:
    """How to run a recipe (everything that is not part of the recipe itself).

    Attributes:
        out: run folder (last.pt, best.pt, log.csv).
        resume: continue from `out/last.pt` exactly.
        overwrite: start afresh even though `out/last.pt` exists (removes it, best.pt, log.csv).
        max_steps: stop after this optimizer step; the schedule still follows `train.steps`.
        init_weights: registry name or checkpoint file to fine-tune from (not with resume).
        threads: torch CPU threads (None: torch's default).
        tensorboard: also write TensorBoard scalars under `out/tensorboard` (extra `tensorboard`).
        command: the command that continues this run (with its resume option), shown as the
            "continue with" hint after an interrupt.
    """

    out: Path
    resume: bool = False
    overwrite: bool = False
    max_steps: int | None = None
    device: str = "auto"
    init_weights: str | None = None
    threads: int | None = None
    tensorboard: bool = False
    command: str = ""


@dataclass(frozen=True)
class BatchPlan:
    """Per-device batch × devices × accumulation, and what the recipe's batch rule changed."""

    per_device: int
    devices: int
    accumulate: int
    global_batch: int
    recipe_global_batch: int
    lr: float
    note: str | None = None  # set when this run's global batch differs from the recipe's


@dataclass(frozen=True)
class TrainPlan:
    """The resolved run, reported before the first step (and all `--dry-run` prints)."""

    recipe: dict[str, Any]
    model: str
    model_config: dict[str, Any]
    parameters: int
    device: str
    precision: str
    workers: int  # DataLoader workers per process (data.workers, capped to the CPUs)
    batch: BatchPlan
    steps: int
    stop_step: int
    start_step: int
    train_items: int | None
    val_items: int | None
    steps_per_epoch: float | None
    out: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainEvent:
    """One progress report: `kind` is "start", "step", "validation", "best" or "checkpoint"."""

    kind: str
    step: int
    stop_step: int
    losses: dict[str, float] = field(default_factory=dict)
    lr: float = 0.0
    steps_per_s: float = 0.0
    samples_per_s: float = 0.0
    eta_s: float | None = None
    validation: ValResult | None = None
    plan: TrainPlan | None = None
    path: str | None = None


@dataclass(frozen=True)
class TrainReport:
    """The result of `train()` (what `deblur train --json` prints)."""

    out: str
    model: str
    step: int
    stop_step: int
    total_steps: int
    start_step: int
    interrupted: bool
    samples: int
    global_batch: int
    world_size: int
    seconds: float
    final_losses: dict[str, float]
    best_psnr: float | None
    best_step: int | None
    last_validation: ValResult | None
    last_checkpoint: str
    best_checkpoint: str | None
    resume_command: str | None
    rank: int = 0
