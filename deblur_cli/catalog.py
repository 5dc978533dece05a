"""What `deblur models` reports: each registry entry joined with its weights (registered and
imported) and its parameter count.

A query over three packages, so it sits above them: may import `models`, `profiling` and
`weights`; only `cli/models_cmd` imports it (not `models/`, which `weights` itself imports).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .models import create, get_spec, list_models
from .profiling import count_parameters
from .weights import weights_by_model


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


def model_info(name: str, weights: tuple[str, ...] | None = None) -> ModelInfo:
    """`weights`: the names built as this model (default: registry and imported ones)."""
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
        weights=weights_by_model().get(spec.name, ()) if weights is None else weights,
    )


def list_model_infos() -> list[ModelInfo]:
    by_model = weights_by_model()  # a broken registry or cache index raises
    return [model_info(name, by_model.get(name, ())) for name in list_models()]
