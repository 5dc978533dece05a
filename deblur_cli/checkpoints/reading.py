"""Reading a checkpoint file: sniff its format, load it without executing code, unwrap the
container and strip DistributedDataParallel's `module.` prefix (architectures §8)."""

from __future__ import annotations

import os
import pickle
import re
import struct
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, CorruptCheckpointError, UnsafeCheckpointError

CONTAINER_KEYS = ("params", "params_ema", "state_dict")
MODULE_PREFIX = "module."
PLAIN = "plain"
SHOWN_KEYS = 5  # how many keys of each kind an error message lists


@dataclass(frozen=True)
class Checkpoint:
    """A state dict read from a file, with how it was found."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    container: str  # the key it was found under, or "plain"
    stripped_prefix: bool  # a leading "module." was removed from every key
    file_format: str  # "torch" or "safetensors"


def _sniff(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        raise CorruptCheckpointError(f"{path}: empty file")
    if head[:4] == b"PK\x03\x04":
        return "torch"
    if head[:1] == b"\x80":  # legacy (pre-1.6) torch.save: a bare pickle stream
        return "torch"
    if len(head) >= 9 and head[8:9] == b"{":
        (header_len,) = struct.unpack("<Q", head[:8])
        if header_len < path.stat().st_size:
            return "safetensors"
    raise CorruptCheckpointError(f"{path}: not a PyTorch or safetensors checkpoint")


def _numpy_scalar_globals() -> list[Any]:
    # Training scripts often store metrics as numpy scalars (the seed's `best_eval`). Rebuilding
    # a numpy scalar or dtype only copies bytes, so these constructors are allowed; nothing else
    # beyond torch's own allowlist is. numpy 1.x files name the module `numpy.core`.
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    scalar = core.multiarray.scalar
    allowed: list[Any] = [np.dtype, scalar, (scalar, "numpy.core.multiarray.scalar")]
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return allowed


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _torch_load(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        what = f" ({found.group(1)})" if found else ""
        raise UnsafeCheckpointError(
            f"{path}: refused, loading it would execute code{what}; only tensor checkpoints "
            "are loaded (torch.load weights_only=True)"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, struct.error) as e:
        raise CorruptCheckpointError(
            f"{path}: truncated or corrupt checkpoint ({_first_line(e)})"
        ) from None


def _safetensors_load(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CorruptCheckpointError(
            f"{path}: truncated or corrupt safetensors file ({_first_line(e)})"
        ) from None


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _top_keys(obj: Mapping[Any, Any]) -> str:
    return ", ".join(map(str, list(obj)[:SHOWN_KEYS]))


def unwrap_state_dict(
    obj: Any, container: str | None = None
) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict inside a checkpoint object and the key it was under ("plain" if none).

    With `container` (from the weights registry) only that key is accepted; otherwise
    `params`, `params_ema`, `state_dict`, then the object itself (architectures §8).
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint holds a {type(obj).__name__}, not a state dict")
    if container is not None and container != PLAIN:
        if container not in obj:
            raise CheckpointError(
                f"checkpoint has no '{container}' entry (top-level keys: {_top_keys(obj)})"
            )
        candidates: Iterable[str] = (container,)
    elif container == PLAIN:
        candidates = ()
    else:
        candidates = (k for k in CONTAINER_KEYS if k in obj)
    for key in candidates:
        if _is_state_dict(obj[key]):
            return dict(obj[key]), key
        raise CheckpointError(f"checkpoint entry '{key}' is not a state dict of tensors")
    if _is_state_dict(obj):
        return dict(obj), PLAIN
    raise CheckpointError(
        f"no state dict found: not a plain state dict and none of {', '.join(CONTAINER_KEYS)} "
        f"is present (top-level keys: {_top_keys(obj)})"
    )


def strip_module_prefix(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], bool]:
    """Remove the `module.` that DistributedDataParallel puts on every key."""
    if state_dict and all(k.startswith(MODULE_PREFIX) for k in state_dict):
        return {k[len(MODULE_PREFIX) :]: v for k, v in state_dict.items()}, True
    return dict(state_dict), False


def read_checkpoint(path: str | os.PathLike[str], container: str | None = None) -> Checkpoint:
    """Load a `.pth`/`.pt`/`.safetensors` file safely and return its unwrapped state dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        file_format = _sniff(path)
    except OSError as e:  # a folder, no permission
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    if file_format == "safetensors":
        state_dict, found = _safetensors_load(path), PLAIN
    else:
        state_dict, found = unwrap_state_dict(_torch_load(path), container)
    state_dict, stripped = strip_module_prefix(state_dict)
    return Checkpoint(path, state_dict, found, stripped, file_format)


def shapes_of(state_dict: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Key → shape, from tensors or from anything with a `.shape` (or already a shape)."""
    return {k: tuple(getattr(v, "shape", v)) for k, v in state_dict.items()}
