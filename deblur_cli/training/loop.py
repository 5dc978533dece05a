"""`train(config, options)`: the training loop, readable top to bottom (setup, data, model,
optimizer, loop, validation, checkpoint), nanoGPT's shape over a typed config.

The core never prints: progress goes to the `progress` callback (rank 0 only), the result is a
`TrainReport`, failures are TrainingErrors. `should_stop()` (e.g. set by a SIGINT handler) ends
the run after the current optimizer step with `last.pt` saved.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn

from ..errors import TrainingError
from ..models import get_spec
from .build import (
    EMA,
    autocast_factory,
    build_model,
    build_optimizer,
    count_parameters,
    has_unused_heads,
    load_init_weights,
    make_scaler,
    stage_at,
)  # fmt: skip
from .config import TrainConfig
from .data import StreamSampler, TrainingData, crop_dataset, make_loader
from .distributed import DistEnv, init_distributed, reduce_sum, shutdown, wrap_model
from .events import RunOptions, TrainEvent, TrainPlan, TrainReport
from .losses import Criterion
from .plan import prepare_run
from .runlog import RunLog
from .schedule import Schedule
from .state import (
    BEST,
    LAST,
    LOG,
    best_checkpoint,
    cpu_state_dict,
    last_checkpoint,
    save_atomic,
    set_rng_states,
)
from .validate import ValidationSet, ValResult, validate

Progress = Callable[[TrainEvent], None]


@dataclass
class Run:
    """Everything one training run holds; built by `setup_run`, advanced by `train`."""

    config: TrainConfig
    options: RunOptions
    env: DistEnv
    plan: TrainPlan
    model: nn.Module  # the network itself (checkpoints, EMA, wavelet loss)
    net: nn.Module  # what the step calls: the model, wrapped in DDP / torch.compile
    ema: EMA | None
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    criterion: Criterion
    schedule: Schedule
    data: TrainingData
    valset: ValidationSet | None
    log: RunLog | None
    autocast: Callable[[], Any]
    forward_kwargs: dict[str, bool]  # return_aux for networks that have aux heads
    step: int = 0
    samples: int = 0
    best: dict[str, Any] | None = None
    last_val: ValResult | None = None
    losses: dict[str, float] = field(default_factory=dict)


def train(
    config: TrainConfig,
    options: RunOptions,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainReport:
    """Train `config` into `options.out`; returns when `train.steps` (or `--max-steps`) is
    reached or `should_stop()` turns true. Run once per process under torchrun."""
    env = init_distributed(options.device)
    try:
        run = setup_run(config, options, env)
        return _loop(run, progress or (lambda event: None), should_stop or (lambda: False))
    finally:
        shutdown(env)


def _loop(run: Run, progress: Progress, should_stop: Callable[[], bool]) -> TrainReport:
    cfg, env, plan = run.config, run.env, run.plan
    report = progress if env.is_main else (lambda event: None)
    report(TrainEvent("start", run.step, plan.stop_step, plan=plan))
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None
    stage, global_batch, interrupted = None, 0, False
    started, timer = time.perf_counter(), _Rate()
    while run.step < plan.stop_step:
        # progressive stages: a new crop/batch means a new loader from the same stream position
        if stage != stage_at(cfg, run.step):
            stage = stage_at(cfg, run.step)
            batches = _loader(run, *stage)
            global_batch = stage[1] * env.world * plan.batch.accumulate
        lr = run.schedule.lr(run.step)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        assert batches is not None
        values = optimizer_step(run, batches)
        run.step += 1
        run.samples += global_batch
        if run.ema is not None:
            run.ema.update(run.model)
        # one reduction per step: averaged losses for the log, NaN on any rank, stop on any rank
        losses, stop = _reduce(values, should_stop(), run)
        timer.tick(global_batch)
        report(TrainEvent("step", run.step, plan.stop_step, losses, lr, timer.steps_per_s,
                          timer.samples_per_s, timer.eta(plan.stop_step - run.step)))  # fmt: skip
        validation = _maybe_validate(run, report)
        save = stop or run.step % cfg.train.save_every == 0 or run.step == plan.stop_step
        # a row at every save too, so the log reaches each checkpoint (and short runs log)
        _maybe_log(run, losses, lr, timer, validation, time.perf_counter() - started, save)
        if save:
            _save(run, report)
        if stop:
            interrupted = True
            break
    del batches  # shuts the DataLoader workers down
    if run.log is not None:
        run.log.close()
    return _report(run, interrupted, time.perf_counter() - started, global_batch)


def setup_run(config: TrainConfig, options: RunOptions, env: DistEnv) -> Run:
    """Everything before the first step (also what benchmarks/train_speed.py times steps of)."""
    if options.threads:
        torch.set_num_threads(options.threads)
    if env.device.type == "cuda":
        torch.backends.cudnn.benchmark = (
            True  # crops have fixed sizes: pick the fastest kernels once
        )
    prepared = prepare_run(config, options, env)  # out dir, resume checks, data, batch plan
    config, plan, resumed = prepared.config, prepared.plan, prepared.resumed
    torch.manual_seed(config.train.seed)  # the same initial weights for a given recipe
    model = build_model(config, env.device)
    plan = dataclasses.replace(plan, parameters=count_parameters(model))
    ema = EMA(model, config.train.ema) if config.train.ema else None
    optimizer = build_optimizer(model, config, plan.batch.lr, env.device)
    scaler = make_scaler(config.train.precision, env.device)
    criterion = Criterion(config.loss)
    run = Run(
        config, options, env, plan, model, model, ema, optimizer, scaler, criterion,
        Schedule.from_section(config.schedule, plan.batch.lr, config.train.steps),
        prepared.data, prepared.valset, None,
        autocast_factory(config.train.precision, env.device),
        {"return_aux": criterion.needs_aux} if get_spec(config.model.name).aux_heads else {},
    )  # fmt: skip
    if resumed is not None:
        _restore(run, resumed)
    elif options.init_weights:
        load_init_weights(model, config, options.init_weights)
        if ema is not None:
            ema.model.load_state_dict(model.state_dict())
    net = cast(nn.Module, torch.compile(model)) if config.train.compile else model
    run.net = wrap_model(net, env, has_unused_heads(config, criterion.needs_aux))
    if env.is_main:
        tb = options.out / "tensorboard" if options.tensorboard else None
        run.log = RunLog(options.out / LOG, criterion.names, tb)
        if resumed is not None:
            run.log.resume_at(run.step)
    return run


def _restore(run: Run, state: dict[str, Any]) -> None:
    """Continue exactly where `last.pt` stopped (§3.6 bug 11: the schedule continues too)."""
    run.model.load_state_dict(state["model"])
    if run.ema is not None and state.get("ema") is not None:
        run.ema.model.load_state_dict(state["ema"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scaler is not None and state.get("scaler") is not None:
        run.scaler.load_state_dict(state["scaler"])
    run.step, run.samples = int(state["step"]), int(state["data"]["samples"])
    run.best = state.get("best")
    set_rng_states(state["rng"])


def _loader(run: Run, crop: int, batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    cfg, env = run.config, run.env
    source = crop_dataset(run.data, cfg.data, crop, cfg.train.seed)
    sampler = StreamSampler(
        len(run.data.train), cfg.train.seed, batch, env.world, env.rank, run.samples
    )
    return make_loader(source, sampler, run.plan.workers, env.device.type == "cuda")


def optimizer_step(run: Run, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """`accumulate` micro-steps, clipping, one update; returns the summed unweighted loss
    terms and the total (a tensor on the device: no host sync here)."""
    accumulate = run.plan.batch.accumulate
    sums: torch.Tensor | None = None
    for micro in range(accumulate):
        blur, sharp = (t.to(run.env.device, non_blocking=True) for t in next(batches))
        if run.config.train.channels_last:
            blur = blur.contiguous(memory_format=torch.channels_last)
        # in DDP we only sync gradients at the last micro step
        last = micro == accumulate - 1
        sync = nullcontext() if last or not run.env.distributed else run.net.no_sync()  # type: ignore[operator]
        with sync:
            with run.autocast():
                outputs = run.net(blur, **run.forward_kwargs)
            values = run.criterion(outputs, sharp, run.model)  # float32, outside autocast
            loss = values.total / accumulate
            (run.scaler.scale(loss) if run.scaler is not None else loss).backward()
        terms = torch.stack([values.total.detach(), *values.terms.values()])
        sums = terms if sums is None else sums + terms
    if run.scaler is not None:
        run.scaler.unscale_(run.optimizer)
    if run.config.train.clip:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.config.train.clip)
    if run.scaler is not None:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    assert sums is not None
    return sums / accumulate


def _reduce(values: torch.Tensor, stop: bool, run: Run) -> tuple[dict[str, float], bool]:
    flag = torch.tensor([float(stop)], device=values.device)
    both = reduce_sum(torch.cat([values.float(), flag]), run.env)
    numbers = both.tolist()
    losses = dict(zip(("loss", *run.criterion.names), (v / run.env.world for v in numbers[:-1])))
    if not all(math.isfinite(v) for v in losses.values()):
        shown = ", ".join(f"{k}={v:g}" for k, v in losses.items())
        raise TrainingError(
            f"non-finite loss at step {run.step} ({shown}); stopped, last good checkpoint: "
            f"{run.options.out / LAST} (lower optim.lr or set train.clip)"
        )
    run.losses = losses
    return losses, numbers[-1] > 0


def _maybe_validate(run: Run, report: Progress) -> ValResult | None:
    every = run.config.train.val_every
    if run.valset is None or not every or (run.step % every and run.step != run.config.train.steps):
        return None
    net = run.ema.model if run.ema is not None else run.model
    result = validate(
        net, run.valset, size_multiple=get_spec(run.config.model.name).size_multiple,
        device=run.env.device, autocast=run.autocast, rank=run.env.rank, world=run.env.world,
        reduce_sum=lambda t: reduce_sum(t, run.env),
    )  # fmt: skip
    run.last_val = result
    report(TrainEvent("validation", run.step, run.plan.stop_step, validation=result))
    if run.best is None or result.psnr > run.best["psnr"]:
        run.best = {
            "psnr": result.psnr,
            "ssim": result.ssim,
            "step": run.step,
            "protocol": result.protocol,
        }
        if run.env.is_main:
            path = save_atomic(_best_container(run), run.options.out / BEST)
            report(
                TrainEvent("best", run.step, run.plan.stop_step, validation=result, path=str(path))
            )
    return result


def _maybe_log(run: Run, losses: dict[str, float], lr: float, timer: _Rate,
               validation: ValResult | None, elapsed: float, force: bool) -> None:  # fmt: skip
    if run.log is None:
        return
    run.log.add(losses)
    every = run.config.train.log_every
    if force or validation is not None or (every and run.step % every == 0):
        run.log.row(
            step=run.step, epoch=run.samples // max(len(run.data.train), 1), samples=run.samples,
            lr=lr, steps_per_s=timer.steps_per_s, samples_per_s=timer.samples_per_s,
            elapsed_s=elapsed, validation=validation,
        )  # fmt: skip


def _best_container(run: Run) -> dict[str, Any]:
    weights = run.ema.model if run.ema is not None else run.model
    return best_checkpoint(
        params=cpu_state_dict(weights), model_name=run.config.model.name,
        model_config=dict(run.config.model.config), step=run.step, metric=run.best,
        recipe=run.config.to_dict(),
    )  # fmt: skip


def _save(run: Run, report: Progress) -> None:
    """last.pt after the best.pt of this step (§3.6 bug 2); before any validation has run,
    best.pt holds the latest weights so the run always leaves a loadable file."""
    if not run.env.is_main:
        return
    out = run.options.out
    if run.best is None:
        save_atomic(_best_container(run), out / BEST)
    state = last_checkpoint(
        model=cpu_state_dict(run.model),
        ema=cpu_state_dict(run.ema.model) if run.ema is not None else None,
        optimizer=run.optimizer.state_dict(),
        scheduler=run.schedule.state_dict(run.step),
        scaler=run.scaler.state_dict() if run.scaler is not None else None,
        step=run.step, samples=run.samples, samples_per_epoch=max(len(run.data.train), 1),
        best=run.best, recipe=run.config.to_dict(), model_name=run.config.model.name,
        model_config=dict(run.config.model.config), world_size=run.env.world,
    )  # fmt: skip
    path = save_atomic(state, out / LAST)
    report(TrainEvent("checkpoint", run.step, run.plan.stop_step, path=str(path)))


def _report(run: Run, interrupted: bool, seconds: float, global_batch: int) -> TrainReport:
    out = run.options.out
    hint = run.options.command if interrupted else None
    return TrainReport(
        out=str(out), model=run.config.model.name, step=run.step, stop_step=run.plan.stop_step,
        total_steps=run.config.train.steps, start_step=run.plan.start_step, interrupted=interrupted,
        samples=run.samples, global_batch=global_batch or run.plan.batch.global_batch,
        world_size=run.env.world, seconds=seconds, final_losses=run.losses,
        best_psnr=run.best["psnr"] if run.best else None,
        best_step=run.best["step"] if run.best else None, last_validation=run.last_val,
        last_checkpoint=str(out / LAST), best_checkpoint=str(out / BEST) if (out / BEST).exists() else None,
        resume_command=hint, rank=run.env.rank,
    )  # fmt: skip


class _Rate:
    """Steps/s and samples/s over the recent steps (an exponential average of step times)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.step_s: float | None = None
        self.batch = 0

    def tick(self, batch: int) -> None:
        now = time.perf_counter()
        dt, self.last, self.batch = now - self.last, now, batch
        self.step_s = dt if self.step_s is None else 0.9 * self.step_s + 0.1 * dt

    @property
    def steps_per_s(self) -> float:
        return 1.0 / self.step_s if self.step_s else 0.0

    @property
    def samples_per_s(self) -> float:
        return self.steps_per_s * self.batch

    def eta(self, steps_left: int) -> float | None:
        return steps_left * self.step_s if self.step_s else None
