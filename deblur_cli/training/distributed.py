"""One process or many: the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK), the
process group (nccl on GPUs, gloo on CPU), DDP wrapping and the few collectives the loop uses.

A plain `deblur train` is world size 1 and never touches torch.distributed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..errors import TrainingError


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise TrainingError(f"environment variable {name}={text!r} is not an integer") from None


def resolve_device(device: str, local_rank: int) -> torch.device:
    """`auto`: CUDA (this process's GPU under torchrun), then MPS, then CPU."""
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise TrainingError(f"device '{device}' requested but no CUDA GPU is available")
        return torch.device(device)
    mps = getattr(torch.backends, "mps", None)
    if device in ("auto", "mps") and mps is not None and mps.is_available():
        return torch.device("mps")
    if device == "mps":
        raise TrainingError("device 'mps' requested but MPS is not available")
    if device not in ("auto", "cpu"):
        raise TrainingError(f"unknown device '{device}' (use auto, cpu, cuda or mps)")
    return torch.device("cpu")


def init_distributed(device: str) -> DistEnv:
    """Join the process group torchrun describes, or run alone."""
    world = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    dev = resolve_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend)
    return DistEnv(rank, world, local_rank, dev)


def shutdown(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, env: DistEnv, unused_parameters: bool) -> nn.Module:
    """DDP around `model` when there is more than one process; `unused_parameters` for
    networks whose auxiliary heads get no gradient from the loss (MLWNet without SIMO)."""
    if not env.distributed:
        return model
    import warnings

    from torch.nn.parallel import DistributedDataParallel

    # Depthwise weights (C, 1, k, k) get gradients whose stride on the size-1 axis differs from
    # the bucket's: the same memory layout, but DDP compares strides literally and warns once
    # per process on every run; nothing is copied that matters.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    ids = [env.device.index] if env.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=unused_parameters)


def reduce_sum(tensor: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum over processes (a copy on the tensor's device; collectives need the backend's)."""
    if not env.distributed:
        return tensor
    device = env.device if env.device.type == "cuda" else torch.device("cpu")
    out = tensor.to(device).clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(tensor.device)


def broadcast_flag(flag: bool, env: DistEnv) -> bool:
    """True on every rank when it is true on any."""
    if not env.distributed:
        return flag
    return bool(reduce_sum(torch.tensor([float(flag)]), env).item() > 0)


def barrier(env: DistEnv) -> None:
    if env.distributed:
        if env.device.type == "cuda":
            dist.barrier(device_ids=[env.device.index])
        else:
            dist.barrier()
