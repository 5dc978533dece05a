"""The run's objects, built from the typed config: the network (auxiliary heads when the loss
needs them), its EMA copy, AdamW, the fp16 grad scaler, autocast, starting weights for a
fine-tune, the batch plan (the recipe's batch rule on this many devices) and progressive stages.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from ..errors import TrainingError
from .config import TrainConfig
from .events import BatchPlan

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def plan_batch(config: TrainConfig, devices: int) -> BatchPlan:
    """This run's global batch against the recipe's `global_batch`, and the rule's fix.

    `accumulate` keeps the recipe's global batch by changing the number of micro-steps (it must
    divide evenly); `scale-lr` keeps the micro-steps and scales the LR linearly (Goyal et al.).
    """
    data, t = config.data, config.train
    reference = t.global_batch or data.batch * t.accumulate
    actual = data.batch * devices * t.accumulate
    plan = BatchPlan(data.batch, devices, t.accumulate, actual, reference, config.optim.lr)
    if actual == reference:
        return plan
    what = f"global batch {data.batch} × {devices} device(s) × {t.accumulate} = {actual}"
    if t.batch_rule == "accumulate":
        per_step = data.batch * devices
        if reference % per_step:
            raise TrainingError(
                f"{what} differs from the recipe's {reference}, which is not a multiple of "
                f'{per_step}: change data.batch, or set train.batch_rule = "scale-lr"'
            )
        acc = reference // per_step
        note = f"{what} differs from the recipe's {reference}: accumulating {acc} micro-batches per step (batch_rule = accumulate)"
        return BatchPlan(data.batch, devices, acc, reference, reference, config.optim.lr, note)
    lr = config.optim.lr * actual / reference
    note = f"{what} differs from the recipe's {reference}: LR scaled {config.optim.lr:g} -> {lr:g} (batch_rule = scale-lr)"
    return BatchPlan(data.batch, devices, t.accumulate, actual, reference, lr, note)


def stage_at(config: TrainConfig, step: int) -> tuple[int, int]:
    """(crop, per-device batch) in force for the update after `step` done steps (§3.4)."""
    crop, batch = config.data.crop, config.data.batch
    for stage in config.train.stages:
        if step >= stage.start:
            crop, batch = stage.crop, stage.batch
    return crop, batch


def build_model(config: TrainConfig, device: torch.device) -> nn.Module:
    """The registry network in training mode, config from `[model]` (aux heads decided by
    `recipes.check_model_section`), on `device`, channels_last if the recipe asks."""
    from ..models import create

    model = create(config.model.name, **config.model.config).train().to(device)
    if config.train.channels_last:
        with torch.no_grad():  # 5-D parameters (DFFN gains) keep their layout
            for p in model.parameters():
                if p.dim() == 4:
                    p.data = p.data.contiguous(memory_format=torch.channels_last)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def has_unused_heads(config: TrainConfig, needs_aux: bool) -> bool:
    """Aux heads that exist but feed no loss (MLWNet always builds them): DDP must be told."""
    from ..models import get_spec

    built = bool(config.model.config.get("aux_heads", True))  # no such field: always built
    return get_spec(config.model.name).aux_heads and built and not needs_aux


def build_optimizer(
    model: nn.Module, config: TrainConfig, lr: float, device: torch.device
) -> torch.optim.AdamW:
    o = config.optim
    return torch.optim.AdamW(
        model.parameters(), lr=lr, betas=o.betas, weight_decay=o.weight_decay, eps=o.eps,
        # fused on CUDA; foreach on CPU (measured 1.7x faster than the per-tensor loop on the
        # ~800 small tensors of a width-8 CE-MLWNet, equal at width 32)
        fused=True if device.type == "cuda" else None,
        foreach=None if device.type == "cuda" else True,
    )  # fmt: skip


def make_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16 needs loss scaling; bf16 has fp32's range and does not."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None


def autocast_factory(
    precision: str, device: torch.device
) -> Callable[[], AbstractContextManager[Any]]:
    dtype = _DTYPES.get(precision)
    if dtype is None:
        return nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype)


class EMA:
    """Exponential moving average of the weights: ema ← decay·ema + (1 − decay)·w after each
    optimizer step; buffers are copied."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        ema: list[torch.Tensor] = list(self.model.parameters())
        live: list[torch.Tensor] = list(model.parameters())
        torch._foreach_lerp_(ema, live, 1.0 - self.decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)


def load_init_weights(model: nn.Module, config: TrainConfig, source: str) -> str:
    """Fine-tune start: registry name (downloaded if needed) or checkpoint file, checked
    strictly against the inference layout; aux heads absent from the file keep their
    initialisation. Returns a one-line note."""
    from ..checkpoints import check_architecture, read_checkpoint, shapes_of
    from ..models import get_spec
    from ..weights import resolve

    resolved = resolve(source)
    container = resolved.entry.container if resolved.entry is not None else None
    ckpt = read_checkpoint(resolved.path, container)
    spec = get_spec(config.model.name)
    inference = {k: v for k, v in config.model.config.items() if k != "aux_heads"}
    check_architecture(shapes_of(ckpt.state_dict), spec.name, inference)
    own = model.state_dict()
    usable = {k: v for k, v in ckpt.state_dict.items() if k in own}
    missing = sorted(set(own) - set(usable))
    if any(not k.startswith(spec.training_only_prefixes or ("\0",)) for k in missing):
        raise TrainingError(f"--init-weights {source}: missing {', '.join(missing[:3])}")
    model.load_state_dict(usable, strict=False)
    kept = f"; {len(missing)} aux-head tensors start from scratch" if missing else ""
    return f"initial weights from {resolved.path}{kept}"
