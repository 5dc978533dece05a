"""Building the model a checkpoint holds and loading the file into it strictly."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ArchitectureMismatchError, StateDictMismatchError, UnknownArchitectureError
from ..models import create, get_spec
from .detection import Detection, guess_architecture
from .matching import check_architecture
from .reading import read_checkpoint, shapes_of


@dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode with the checkpoint strictly loaded into it."""

    model: nn.Module
    name: str
    config: dict[str, Any]
    checkpoint: Path
    container: str
    stripped_prefix: bool
    dropped_keys: tuple[str, ...]
    detected: bool  # the architecture came from the file, not from the caller


def same_network(model: str, other: str) -> bool:
    """Both registry names build the same network class (mlwnet and mlwnet-local do)."""
    return get_spec(model).builder is get_spec(other).builder


def resolve_architecture(
    state_dict: Mapping[str, Any], model: str | None = None, config: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any], tuple[str, ...], bool]:
    """Model name, full config overrides, keys to drop, and whether the model was detected.

    With `model` given, the file must hold that architecture: widths the caller left out are
    read from the file, and a file of another architecture is an ArchitectureMismatchError.
    `state_dict` holds tensors or shapes.
    """
    shapes = shapes_of(state_dict)
    if model is None:
        found = guess_architecture(shapes)
        name, full = found.model, {**found.config, **dict(config or {})}
        return name, full, check_architecture(shapes, name, full), True
    name = get_spec(model).name
    detection: Detection | None
    try:
        detection = guess_architecture(shapes)
    except UnknownArchitectureError:
        detection = None  # the strict check below names what does not match
    if detection is not None and not same_network(detection.model, name):
        raise ArchitectureMismatchError(
            f"the checkpoint holds {detection.describe()}, not {name}; "
            f"leave the model out to use the detected one"
        )
    full = {**(detection.config if detection else {}), **dict(config or {})}
    return name, full, check_architecture(shapes, name, full), False


def _as_dtype_of(tensor: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    if target is None or not (tensor.is_floating_point() and target.is_floating_point()):
        return tensor  # unexpected keys and integer buffers: the strict load judges them
    return tensor.to(target.dtype)


def load_state_dict_strict(
    net: nn.Module, state_dict: Mapping[str, torch.Tensor], drop: Iterable[str] = ()
) -> None:
    """`load_state_dict(strict=True)` after removing the allowed training-only keys.

    Floating tensors take the dtype of the model's own tensor of that name: weights stored in
    fp16 or bf16 (the bundled model's safetensors) load into the fp32 network as fp32.
    """
    dropped = set(drop)
    own = net.state_dict()
    kept = {k: _as_dtype_of(v, own.get(k)) for k, v in state_dict.items() if k not in dropped}
    try:
        net.load_state_dict(kept, strict=True)
    except RuntimeError as e:  # should not happen after check_state_dict; keep it one line
        raise StateDictMismatchError(" ".join(str(e).split())[:500]) from None


def load_model(
    path: str | os.PathLike[str],
    model: str | None = None,
    config: Mapping[str, Any] | None = None,
    container: str | None = None,
) -> LoadedModel:
    """Build the model a checkpoint holds (or `model`) in eval mode and load it strictly."""
    ckpt = read_checkpoint(path, container)
    name, full, drop, detected = resolve_architecture(ckpt.state_dict, model, config)
    net = create(name, **full)
    load_state_dict_strict(net, ckpt.state_dict, drop)
    return LoadedModel(
        net.eval(), name, full, ckpt.path, ckpt.container, ckpt.stripped_prefix, drop, detected
    )
