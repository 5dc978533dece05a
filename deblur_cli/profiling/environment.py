"""What a latency figure was measured on: device, library versions, threads, cudnn.benchmark."""

from __future__ import annotations

import platform
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Environment:
    device: str
    device_name: str
    torch: str
    cuda: str | None
    cudnn: int | None
    cudnn_benchmark: bool
    threads: int
    python: str


def environment(device: torch.device, cudnn_benchmark: bool) -> Environment:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
    return Environment(
        device=device.type,
        device_name=name,
        torch=torch.__version__,
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        cudnn_benchmark=cudnn_benchmark,
        threads=torch.get_num_threads(),
        python=platform.python_version(),
    )
