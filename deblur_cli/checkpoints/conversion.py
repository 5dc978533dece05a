"""Conversion of a checkpoint to a `.safetensors` file holding its checked inference state dict."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..files import atomic_write_bytes
from .load import resolve_architecture
from .reading import read_checkpoint


@dataclass(frozen=True)
class ConvertResult:
    source: Path
    output: Path
    model: str
    config: dict[str, Any]
    tensors: int
    bytes: int
    dropped_keys: tuple[str, ...]


def _unshare(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors sharing memory (the LWN alias keys); copies keep both names,
    # so the converted file still loads strictly.
    seen: set[tuple[int, int]] = set()
    out = {}
    for key, tensor in state_dict.items():
        tensor = tensor.detach().contiguous()
        ident = (tensor.untyped_storage().data_ptr(), int(tensor.storage_offset()))
        out[key] = tensor.clone() if ident in seen or tensor.numel() == 0 else tensor
        seen.add(ident)
    return out


def convert_to_safetensors(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    model: str | None = None,
    container: str | None = None,
) -> ConvertResult:
    """Write the verified inference state dict of `source` as a `.safetensors` file.

    The file is written beside `output` under a temporary name and renamed when complete;
    training-only aux-head keys are left out.
    """
    from safetensors.torch import save

    source, output = Path(source), Path(output)
    if output.suffix != ".safetensors":
        raise CheckpointError(f"{output}: the output name must end in .safetensors")
    ckpt = read_checkpoint(source, container)
    name, full, drop, _ = resolve_architecture(ckpt.state_dict, model)
    dropped = set(drop)
    tensors = _unshare({k: v for k, v in ckpt.state_dict.items() if k not in dropped})
    meta = {"format": "pt", "model": name, "config": json.dumps(full, sort_keys=True, default=list)}
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"cannot write {output}: {e.strerror or e}") from None
    atomic_write_bytes(output, save(tensors, metadata=meta), CheckpointError)
    return ConvertResult(source, output, name, full, len(tensors), output.stat().st_size, drop)
