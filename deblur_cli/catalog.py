"""What `deblur models` reports: each registry entry joined with its published weights."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .models import create, get_spec, list_models
from .profiling import count_parameters
from .weights import load_registry


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    paper: str
    params: int  # inference config (aux heads off where optional), aliases counted once
    size_multiple: int
    default_tile: int
    default_overlap: int
    aux_heads: bool
    tlc: bool
    has_wavelets: bool
    weights: tuple[str, ...]


def _weights_for(model_name: str) -> tuple[str, ...]:
    """Names of the registry's weights built as `model_name` (a broken registry raises)."""
    return tuple(name for name, entry in load_registry().items() if entry.model == model_name)


def model_info(name: str) -> ModelInfo:
    spec = get_spec(name)
    with torch.device("meta"):  # shapes only: no memory, no random init
        params = count_parameters(create(spec.name))
    return ModelInfo(
        name=spec.name,
        description=spec.description,
        paper=spec.paper,
        params=params,
        size_multiple=spec.size_multiple,
        default_tile=spec.default_tile,
        default_overlap=spec.default_overlap,
        aux_heads=spec.aux_heads,
        tlc=spec.tlc is not None,
        has_wavelets=spec.has_wavelets,
        weights=_weights_for(spec.name),
    )


def list_model_infos() -> list[ModelInfo]:
    return [model_info(name) for name in list_models()]
