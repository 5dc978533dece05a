"""Before the first step: the run folder (never overwritten silently), the resume checks (same
recipe, an existing `last.pt`), the data and its held-out split, the batch plan — and
`plan_training`, which resolves all of that without training (`--dry-run`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import TrainingError
from .build import build_model, build_optimizer, count_parameters, plan_batch
from .config import RESUMABLE_CHANGES, TrainConfig
from .data import TrainingData, open_training_data, usable_workers
from .distributed import DistEnv, barrier, resolve_device
from .events import RunOptions, TrainPlan
from .recipes import recipe_differences, to_toml
from .state import BEST, LAST, LOG, load_state
from .validate import ValidationSet

RECIPE_FILE = "recipe.toml"


@dataclass(frozen=True)
class PreparedRun:
    config: TrainConfig
    plan: TrainPlan
    data: TrainingData
    valset: ValidationSet | None
    resumed: dict[str, Any] | None


def check_out_dir(options: RunOptions) -> None:
    """`--out` must not hold a run unless `--resume` (continue) or `--overwrite` (replace)."""
    last = options.out / LAST
    if options.resume and options.overwrite:
        raise TrainingError("--resume and --overwrite exclude each other")
    if options.resume and options.init_weights:
        raise TrainingError("--init-weights starts a new run; --resume continues one (drop one)")
    if options.resume and not last.is_file():
        raise TrainingError(f"{last}: no checkpoint to resume (drop --resume to start a run)")
    if last.is_file() and not (options.resume or options.overwrite):
        raise TrainingError(
            f"{options.out} already holds a run (last.pt): continue it with --resume, "
            "or replace it with --overwrite"
        )
    if options.out.exists() and not options.out.is_dir():
        raise TrainingError(f"--out {options.out}: not a folder")


def check_resume_recipe(config: TrainConfig, state: dict[str, Any]) -> None:
    """A resumed run must keep every setting that shapes its weights (§3.6 bug 11)."""
    stored = state.get("recipe")
    if not isinstance(stored, dict):
        raise TrainingError("last.pt holds no recipe; it was not written by deblur train")
    changed = [
        k for k in recipe_differences(stored, config.to_dict()) if k not in RESUMABLE_CHANGES
    ]
    if changed:
        raise TrainingError(
            f"--resume: the recipe differs from the run's in {', '.join(changed[:4])}; "
            f"resume with the run's own recipe (drop --recipe/--set) or start a new --out"
        )


def _prepare_out_dir(config: TrainConfig, options: RunOptions, env: DistEnv) -> None:
    if env.is_main:
        check_out_dir(options)
        options.out.mkdir(parents=True, exist_ok=True)
        if options.overwrite:
            for name in (LAST, BEST, LOG):
                (options.out / name).unlink(missing_ok=True)
        (options.out / RECIPE_FILE).write_text(to_toml(config), encoding="utf-8")
    barrier(env)  # the other ranks look only after rank 0 has checked and cleaned


def prepare_run(config: TrainConfig, options: RunOptions, env: DistEnv) -> PreparedRun:
    """Everything `train` needs before building the model (raises before touching files when
    the options conflict)."""
    resumed = None
    if options.resume:
        check_out_dir(options)
        resumed = load_state(options.out / LAST)
        check_resume_recipe(config, resumed)
    _prepare_out_dir(config, options, env)
    data = open_training_data(config.data, config.train.seed)
    valset = (
        ValidationSet(data, config.data, config.train.seed)
        if config.train.val_every and data.val
        else None
    )
    plan = _plan(config, options, env.world, str(env.device), data, valset, resumed)
    return PreparedRun(config, plan, data, valset, resumed)


def _plan(
    config: TrainConfig, options: RunOptions, world: int, device: str,
    data: TrainingData | None, valset: ValidationSet | None, resumed: dict[str, Any] | None,
    parameters: int = 0,
) -> TrainPlan:  # fmt: skip
    batch = plan_batch(config, world)
    stop = min(config.train.steps, options.max_steps or config.train.steps)
    notes = list(data.notes if data else ())
    if batch.note:
        notes.append(batch.note)
    if config.train.stages:
        notes.append(
            "stages: "
            + ", ".join(f"from step {s.start}: {s.crop}px × {s.batch}" for s in config.train.stages)
        )
    if data is not None and config.train.val_every and not data.val:
        notes.append("validation is off: data.val_fraction = 0 holds nothing out")
    workers = usable_workers(config.data.workers)
    if workers < config.data.workers:
        notes.append(
            f"data.workers {config.data.workers} capped to {workers} (this process's share of the CPUs)"
        )
    start = int(resumed["step"]) if resumed else 0
    if resumed:
        notes.append(f"resuming at step {start} of {config.train.steps}")
    if options.init_weights:
        notes.append(f"initial weights: {options.init_weights}")
    return TrainPlan(
        recipe=config.to_dict(), model=config.model.name, model_config=dict(config.model.config),
        parameters=parameters, device=device, precision=config.train.precision, workers=workers,
        batch=batch,
        steps=config.train.steps, stop_step=stop, start_step=start,
        train_items=len(data.train) if data else None, val_items=len(valset) if valset else None,
        steps_per_epoch=len(data.train) / batch.global_batch if data else None,
        out=str(options.out), notes=tuple(notes),
    )  # fmt: skip


def plan_training(config: TrainConfig, options: RunOptions, world: int | None = None) -> TrainPlan:
    """`--dry-run`: resolve the recipe, build the model and its optimizer (CPU), count the data
    when a root is given; trains nothing and writes nothing."""
    world = world or int(os.environ.get("WORLD_SIZE", "1"))
    data = open_training_data(config.data, config.train.seed) if config.data.root else None
    device = resolve_device(options.device, 0)
    model = build_model(config, torch.device("cpu"))
    build_optimizer(model, config, config.optim.lr, torch.device("cpu"))
    plan = _plan(config, options, world, str(device), data, None, None, count_parameters(model))
    if data is None:
        plan = dataclasses.replace(plan, notes=(*plan.notes, "no data.root: data not counted"))
    if data is not None and config.train.val_every and data.val:
        val = (
            len(data.val)
            if not config.data.val_images
            else min(config.data.val_images, len(data.val))
        )
        plan = dataclasses.replace(plan, val_items=val)
    return plan
