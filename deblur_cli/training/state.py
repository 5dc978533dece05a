"""Training checkpoints: what `last.pt` and `best.pt` hold, atomic writes, every RNG state.

`last.pt` is the full state after an optimizer step (model, EMA, optimizer, schedule, scaler,
step, data-stream position, RNG states, the resolved recipe, the deblur version), so `--resume`
rebuilds the exact run (nanoGPT stores the model arguments for the same reason). `best.pt` is a
weights container `deblur restore --weights` and `deblur weights import` read: the state dict
under `params` plus the architecture name and config. Both load with `weights_only=True`.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..errors import TrainingError

FORMAT = "deblur-train/1"
LAST, BEST, LOG = "last.pt", "best.pt", "log.csv"


def rng_states() -> dict[str, Any]:
    """Python, NumPy, torch CPU and every CUDA generator (the sample generators need none:
    they are re-seeded from (seed, epoch, index))."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(_as_tuple(states["python"]))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if states.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _as_tuple(obj: Any) -> Any:
    # random.setstate wants tuples all the way down; a round trip may hand back lists
    return tuple(_as_tuple(v) for v in obj) if isinstance(obj, (list, tuple)) else obj


def save_atomic(obj: dict[str, Any], path: Path) -> Path:
    """torch.save to a temporary file beside `path`, fsync, then rename over it: a crash
    leaves the previous file intact, never a truncated one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TrainingError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def load_state(path: Path) -> dict[str, Any]:
    """Read a `last.pt` written by `deblur train` (tensors and plain data only)."""
    if not path.is_file():
        raise TrainingError(f"{path}: no checkpoint to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated or not ours: one line, whatever torch raised
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainingError(f"{path}: not a readable training checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainingError(f"{path}: not a deblur training checkpoint (format {FORMAT})")
    return state


def cpu_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy in contiguous (NCHW) layout: checkpoints never depend on the
    memory format or device the run used."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


def last_checkpoint(
    *,
    model: dict[str, torch.Tensor],
    ema: dict[str, torch.Tensor] | None,
    optimizer: dict[str, Any],
    scheduler: dict[str, Any],
    scaler: dict[str, Any] | None,
    step: int,
    samples: int,
    samples_per_epoch: int,
    best: dict[str, Any] | None,
    recipe: dict[str, Any],
    model_name: str,
    model_config: dict[str, Any],
    world_size: int,
) -> dict[str, Any]:
    epoch, index = divmod(samples, samples_per_epoch)
    return {
        "format": FORMAT,
        "deblur": __version__,
        "model": model,
        "params": model,  # the same tensors (saved once): `deblur restore --weights last.pt` works
        "ema": ema,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "scaler": scaler,
        "step": step,
        "data": {
            "samples": samples,
            "epoch": epoch,
            "index": index,
            "per_epoch": samples_per_epoch,
        },
        "rng": rng_states(),
        "best": best,
        "recipe": recipe,
        "model_name": model_name,
        "model_config": model_config,
        "world_size": world_size,
    }


def best_checkpoint(
    *,
    params: dict[str, torch.Tensor],
    model_name: str,
    model_config: dict[str, Any],
    step: int,
    metric: dict[str, Any] | None,
    recipe: dict[str, Any],
) -> dict[str, Any]:
    """The weights container of best.pt (`params` is what `deblur_cli.checkpoints` unwraps;
    `metric` None means no validation has run and these are the latest weights)."""
    return {
        "params": params,
        "model": model_name,
        "config": model_config,
        "step": step,
        "metric": metric,
        "recipe": recipe,
        "deblur": __version__,
    }
