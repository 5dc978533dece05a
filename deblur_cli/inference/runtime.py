"""Where and how a network runs: device choice, autocast precision, channels_last, and the
process-wide settings (thread count, cudnn.benchmark, glibc's allocator) as explicit choices.

Thread count and cudnn.benchmark are changed only inside a `with` block and restored after it.
The allocator setting cannot be undone; it is made only by a caller that asks for it
(`keep_freed_memory()`, which `deblur restore` calls for CPU runs), never as a side effect.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch import nn

from ..defaults import DEVICES, PRECISIONS, Device
from ..errors import InvalidArgumentError, RestoreError

# Autocast dtype of each precision name in `defaults.PRECISIONS`; None runs in float32.
# Never `.half()` the model: the FFT paths of FFTformer/HybridNet need fp32 (architectures §10).
AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}

KEEP_FREED_MEMORY_ENV = "DEBLUR_KEEP_FREED_MEMORY"


def resolve_device(device: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit device must exist.

    Raises:
        InvalidArgumentError: a name that is no device ("tpu").
        RestoreError: a device this machine does not have.
    """
    if device == Device.auto.value:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device not in DEVICES and not device.startswith("cuda:"):
        choices = ", ".join(DEVICES)
        raise InvalidArgumentError(f"unknown device '{device}' (use {choices} or cuda:N)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RestoreError(f"device '{device}' requested but no CUDA GPU is available")
    if device == Device.mps.value and not _mps_available():
        raise RestoreError("device 'mps' requested but MPS is not available")
    try:
        return torch.device(device)
    except RuntimeError as exc:  # "cuda:x"
        raise InvalidArgumentError(f"unknown device '{device}' ({exc})") from None


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def check_precision(precision: str, supported: tuple[str, ...] = PRECISIONS) -> None:
    """Raise InvalidArgumentError for a name outside `defaults.PRECISIONS` or `supported`."""
    if precision not in AUTOCAST_DTYPES:
        raise InvalidArgumentError(
            f"unknown precision '{precision}' (use {', '.join(PRECISIONS)})"
        )
    if precision not in supported:
        raise InvalidArgumentError(
            f"precision {precision} is not supported here (use {', '.join(supported)})"
        )


def autocast(device: torch.device, precision: str) -> AbstractContextManager[object]:
    """The autocast context of `precision` on `device` (a no-op for fp32)."""
    check_precision(precision)
    dtype = AUTOCAST_DTYPES[precision]
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def to_channels_last(model: nn.Module) -> nn.Module:
    """Store every 4-D parameter channels_last, in place (`Module.to(memory_format=...)` refuses
    models with 5-D parameters such as the DFFN spectral gains)."""
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 4:
                param.data = param.data.contiguous(memory_format=torch.channels_last)
    return model


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` intra-op threads (None: leave as is), then restore."""
    if threads is None:
        yield
        return
    if threads < 1:
        raise InvalidArgumentError(f"threads must be at least 1, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """Run the block with `torch.backends.cudnn.benchmark` set to `enabled`, then restore."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


_ALLOCATOR_TUNED = False


def keep_freed_memory() -> bool:
    """Make glibc keep freed large blocks for reuse instead of returning them to the OS.

    A CPU forward allocates and frees hundreds of MB of activations; with glibc's defaults every
    block above the mmap threshold is mapped and unmapped again, so each forward pays for fresh
    zeroed pages. Raising the mmap and trim thresholds measured 1.46x faster for CE-MLWNet on a
    512x512 tile (2 cores), for about 20% more peak RSS (docs/benchmarks.md).

    Process-wide and permanent (glibc offers no way to read the old values back), so it is an
    explicit choice of the caller: `deblur restore` makes it for CPU runs. Idempotent; a no-op
    outside Linux/glibc or with DEBLUR_KEEP_FREED_MEMORY=0. Returns whether it is active.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    if os.environ.get(KEEP_FREED_MEMORY_ENV, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc malloc.h
        ok = bool(libc.mallopt(m_mmap_threshold, 1 << 30) == 1)
        ok = ok and bool(libc.mallopt(m_trim_threshold, (1 << 31) - 1) == 1)
    except (OSError, AttributeError):  # musl or another libc: keep its defaults
        return False
    _ALLOCATOR_TUNED = ok
    return ok
