"""Parameter counts of a network: the inference config, with auxiliary heads, and the ones the
eval forward actually touches (architectures §7)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..models import create


@dataclass(frozen=True)
class ParamCounts:
    inference: int  # the inference config (aux heads off where optional), aliases once
    with_aux: int  # the training config (aux heads built)
    used_in_eval: int  # touched by the eval forward (no unused convs, no skipped heads)


def count_parameters(model: nn.Module) -> int:
    """Parameters of `model`, a tensor shared by two modules counted once."""
    return sum(p.numel() for p in model.parameters())


def parameter_counts(name: str, model: nn.Module, x: torch.Tensor) -> ParamCounts:
    """Counts for `model` (built by `create(name, ...)`); `x` is a sample input (meta is fine)."""
    with torch.device("meta"):
        with_aux = count_parameters(create(name, **_config_with_aux_heads(model)))
    return ParamCounts(count_parameters(model), with_aux, _params_used(model, x))


def _config_with_aux_heads(model: nn.Module) -> dict[str, Any]:
    """The model's own config with auxiliary heads built, where the family has them."""
    cfg = getattr(model, "config", None)
    if cfg is None:
        return {}
    fields = dataclasses.asdict(cfg)
    return {**fields, "aux_heads": True} if "aux_heads" in fields else fields


def _params_used(model: nn.Module, x: torch.Tensor) -> int:
    ran: set[int] = set()
    hooks = [
        m.register_forward_pre_hook(lambda mod, _args: ran.add(id(mod))) for m in model.modules()
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    used: dict[int, int] = {}  # keyed by tensor identity: a shared parameter counts once
    for module in model.modules():
        if id(module) in ran:
            for p in module.parameters(recurse=False):
                used[id(p)] = p.numel()
    return sum(used.values())
