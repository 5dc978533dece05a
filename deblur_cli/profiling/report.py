"""What `profile_model` is asked (`ProfileOptions`, checked when built) and what it returns
(`ProfileReport`: the `--json` document of `deblur profile`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..defaults import (
    LATENCY_ITERS,
    LATENCY_TIME_BUDGET,
    LATENCY_WARMUP,
    PRECISIONS,
    PROFILE_SIZE,
    Device,
    Engine,
    Precision,
)
from ..errors import InvalidArgumentError
from .environment import Environment
from .latency import Budget, LatencyStats


@dataclass(frozen=True)
class ProfileOptions:
    """How to profile. Timing stops after `iters` timed passes or `time_budget` seconds per
    model, whichever first (None: no time limit); warm-up is bounded the same way."""

    size: int = PROFILE_SIZE
    batch: int = 1
    device: str = Device.auto.value
    precision: str = Precision.fp32.value
    compile: bool = False
    channels_last: bool = False
    cudnn_benchmark: bool = False
    threads: int | None = None  # CPU threads; None keeps torch's default
    iters: int = LATENCY_ITERS
    warmup: int = LATENCY_WARMUP
    time_budget: float | None = LATENCY_TIME_BUDGET
    timing: bool = True
    engine: str = Engine.torch.value  # onnxruntime/openvino: the ONNX export of the network

    def __post_init__(self) -> None:
        at_least = {"size": 1, "batch": 1, "iters": 1, "warmup": 0}
        for name, low in at_least.items():
            if getattr(self, name) < low:
                raise InvalidArgumentError(
                    f"{name} must be at least {low}, got {getattr(self, name)}"
                )
        if self.threads is not None and self.threads < 1:
            raise InvalidArgumentError(f"threads must be at least 1, got {self.threads}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise InvalidArgumentError(
                f"time_budget must be positive seconds (or None for no limit), got {self.time_budget}"
            )
        if self.precision not in PRECISIONS:
            raise InvalidArgumentError(
                f"precision {self.precision!r}: use one of {', '.join(PRECISIONS)}"
            )
        engines = [e.value for e in Engine]
        if self.engine not in engines:
            raise InvalidArgumentError(f"engine {self.engine!r}: use one of {', '.join(engines)}")
        if self.engine != Engine.torch.value and (self.compile or self.channels_last):
            raise InvalidArgumentError(
                f"--compile and --channels-last are PyTorch settings; not with --engine {self.engine}"
            )

    @property
    def budget(self) -> Budget:
        return Budget(warmup=self.warmup, iters=self.iters, seconds=self.time_budget)


@dataclass(frozen=True)
class ProfileReport:
    """One model's complexity and latency. `latency_ms` is None without timing; its `runs`
    says how many passes were timed (at most `iters`, fewer when `time_budget_s` ran out)."""

    model: str
    size: int
    batch: int
    device: str
    precision: str
    compiled: bool
    channels_last: bool
    params: int
    params_with_aux: int
    params_used: int
    macs_torchinfo: int
    macs_full: int
    macs_breakdown: dict[str, int]
    latency_ms: LatencyStats | None
    peak_memory_mb: float | None
    environment: Environment
    notes: tuple[str, ...] = field(default_factory=tuple)
    iters: int = LATENCY_ITERS
    time_budget_s: float | None = LATENCY_TIME_BUDGET
    engine: str = Engine.torch.value
