"""Complexity and latency of the networks: parameter counts, two labelled MAC counts and timed
forward passes (spec: `protocols.md` §5, `architectures.md` §7). Returns dataclasses only."""

from __future__ import annotations

import math
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from .inference import PRECISIONS, resolve_device, to_channels_last
from .models import create, get_spec

# --------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class ParamCounts:
    inference: int  # the inference config (aux heads off where optional), aliases once
    with_aux: int  # the training config (aux heads built)
    used_in_eval: int  # touched by the eval forward (no unused convs, no skipped heads)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _aux_config_overrides(model: nn.Module) -> dict[str, Any]:
    cfg = getattr(model, "config", None)
    return {"aux_heads": True} if cfg is not None and hasattr(cfg, "aux_heads") else {}


def parameter_counts(name: str, model: nn.Module, x: torch.Tensor) -> ParamCounts:
    """Counts for `model` (built by `create(name, ...)`); `x` is a sample input (meta is fine)."""
    cfg_overrides = _aux_config_overrides(model)
    with torch.device("meta"):
        with_aux = count_parameters(create(name, **{**_current_config(model), **cfg_overrides}))
    return ParamCounts(count_parameters(model), with_aux, _params_used(model, x))


def _current_config(model: nn.Module) -> dict[str, Any]:
    import dataclasses

    cfg = getattr(model, "config", None)
    return dataclasses.asdict(cfg) if cfg is not None else {}


def _params_used(model: nn.Module, x: torch.Tensor) -> int:
    ran: set[int] = set()
    hooks = [
        m.register_forward_pre_hook(lambda mod, _args: ran.add(id(mod))) for m in model.modules()
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    used: dict[int, int] = {}
    for module in model.modules():
        if id(module) in ran:
            for p in module.parameters(recurse=False):
                used[id(p)] = p.numel()
    return sum(used.values())


# --------------------------------------------------------------------------------------------
# MACs


@dataclass(frozen=True)
class MacCounts:
    """Multiply-accumulate counts of one forward pass.

    torchinfo: torchinfo's `total_mult_adds` (module convolutions, plus norm affine terms);
        what the papers and the seed's slides report.
    full: torchinfo plus what it does not see: convolutions called functionally (the wavelet
        DWT/IDWT), FFTs (5·N·log2 N real flops per length-N transform, counted as flops/2),
        elementwise products (gates, channel attention, residual scales, spectral gains and
        the frequency-domain attention product; complex products count 4) and matrix products.
    """

    torchinfo: int
    functional_convs: int
    fft: int
    elementwise: int
    matmul: int

    @property
    def full(self) -> int:
        return self.torchinfo + self.functional_convs + self.fft + self.elementwise + self.matmul


def torchinfo_macs(model: nn.Module, x: torch.Tensor) -> int:
    import torchinfo

    summary = torchinfo.summary(model, input_data=x, verbose=0, device=x.device)
    return int(summary.total_mult_adds)


def _conv_macs(weight_shape, out_shape, has_bias: bool, transposed: bool, in_shape) -> int:
    # torchinfo's convention: one MAC per weight per output position (+1 per output for bias).
    # A transposed conv does one MAC per weight per *input* position.
    positions = math.prod(in_shape[2:]) if transposed else math.prod(out_shape[2:])
    macs = math.prod(weight_shape) * positions * out_shape[0]
    return macs + (math.prod(out_shape) if has_bias else 0)


def _fft_macs(signal_numel: int, n: int) -> int:
    if n <= 1:
        return 0
    transforms = signal_numel // n
    return int(transforms * 5 * n * math.log2(n) / 2)


class _OpCounter(TorchDispatchMode):
    """Counts convolutions, FFTs, elementwise and matrix products at the aten level."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = 0
        self.fft = 0
        self.elementwise = 0
        self.matmul = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func.overloadpacket
        aten = torch.ops.aten
        if packet is aten.convolution:
            x, w, b = args[0], args[1], args[2]
            transposed = bool(args[6])
            self.convs += _conv_macs(w.shape, out.shape, b is not None, transposed, x.shape)
        elif packet is aten._fft_r2c:
            x, dims = args[0], args[1]
            n = math.prod(x.shape[d] for d in dims)
            self.fft += _fft_macs(x.numel(), n)
        elif packet is aten._fft_c2r:
            dims = args[1]
            n = math.prod(out.shape[d] for d in dims)
            self.fft += _fft_macs(out.numel(), n)
        elif packet is aten._fft_c2c:
            x, dims = args[0], args[1]
            n = math.prod(x.shape[d] for d in dims)
            self.fft += _fft_macs(x.numel(), n)
        elif packet is aten.mul and isinstance(args[1], torch.Tensor) and args[1].dim() > 0:
            self.elementwise += out.numel() * (4 if out.is_complex() else 1)
        elif packet is aten.addcmul:  # fused residual update x + s * t: one product each
            self.elementwise += out.numel()
        elif packet in (aten.mm, aten.bmm, aten.addmm, aten.baddbmm):
            a, b = (args[1], args[2]) if packet in (aten.addmm, aten.baddbmm) else args[:2]
            self.matmul += math.prod(a.shape) * b.shape[-1]
        return out


def count_macs(model: nn.Module, x: torch.Tensor) -> MacCounts:
    """Both MAC counts for one forward of `model` on `x` (use meta tensors for speed)."""
    module_convs = 0
    hooks = []

    def on_conv(mod: nn.Module, args, out) -> None:
        nonlocal module_convs
        transposed = isinstance(mod, nn.ConvTranspose2d)
        module_convs += _conv_macs(
            mod.weight.shape, out.shape, mod.bias is not None, transposed, args[0].shape
        )

    for mod in model.modules():
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
            hooks.append(mod.register_forward_hook(on_conv))
    counter = _OpCounter()
    try:
        with torch.no_grad(), counter:
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return MacCounts(
        torchinfo=torchinfo_macs(model, x),
        functional_convs=counter.convs - module_convs,
        fft=counter.fft,
        elementwise=counter.elementwise,
        matmul=counter.matmul,
    )


# --------------------------------------------------------------------------------------------
# Latency


@dataclass(frozen=True)
class LatencyStats:
    median: float
    p10: float
    p90: float
    mean: float
    runs: int


def summarize_ms(samples_ms: list[float]) -> LatencyStats:
    if not samples_ms:
        raise ValueError("no timing samples")
    ordered = sorted(samples_ms)

    def pct(q: float) -> float:  # linear interpolation between closest ranks (numpy default)
        pos = (len(ordered) - 1) * q
        lo, hi = math.floor(pos), math.ceil(pos)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    return LatencyStats(
        median=statistics.median(ordered),
        p10=pct(0.10),
        p90=pct(0.90),
        mean=statistics.fmean(ordered),
        runs=len(ordered),
    )


def time_cpu(
    fn: Callable[[], Any], warmup: int, iters: int, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Milliseconds of each of `iters` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iters):
        start = clock()
        fn()
        samples.append((clock() - start) * 1000.0)
    return samples


def time_cuda(fn: Callable[[], Any], warmup: int, iters: int) -> list[float]:
    """CUDA-event milliseconds per call, synchronising after every run (protocols §5.1)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end))
    return samples


class _RssSampler:
    """Peak resident set size of this process while active (sampled every 5 ms)."""

    def __init__(self) -> None:
        self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_bytes())

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # not Linux: lifetime peak from getrusage
        import resource

        scale = 1 if platform.system() == "Darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


# --------------------------------------------------------------------------------------------
# The profile of one model


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


@dataclass(frozen=True)
class ProfileOptions:
    size: int = 256
    batch: int = 1
    device: str = "auto"
    precision: str = "fp32"
    compile: bool = False
    channels_last: bool = False
    cudnn_benchmark: bool = False
    threads: int | None = None  # CPU threads; None keeps torch's default
    iters: int = 100
    warmup: int = 20
    timing: bool = True


@dataclass(frozen=True)
class ProfileReport:
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


@contextmanager
def _threads(n: int | None):
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def profile_model(
    name: str,
    options: ProfileOptions = ProfileOptions(),
    config: dict[str, Any] | None = None,
) -> ProfileReport:
    """Params, MACs (both counts) and forward latency of a registered model, at its published
    config or with `config` overrides (e.g. a checkpoint's `{"dim": 64}`)."""
    config = dict(config or {})
    spec = get_spec(name)
    if options.size % spec.size_multiple:
        from .errors import InputSizeError

        raise InputSizeError(
            f"{spec.name}: --size {options.size} is not a multiple of {spec.size_multiple}"
        )
    if options.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
    shape = (options.batch, 3, options.size, options.size)
    with torch.device("meta"):
        meta_model = create(spec.name, **config)
        meta_x = torch.empty(shape)
    params = parameter_counts(spec.name, meta_model, meta_x)
    macs = count_macs(meta_model, meta_x)

    device = resolve_device(options.device)
    latency, peak_mb, notes = None, None, []
    with _threads(options.threads):
        if options.timing:
            latency, peak_mb = _time_forward(spec.name, config, shape, device, options)
        env = environment(device, options.cudnn_benchmark)
    changed = {k: v for k, v in config.items() if getattr(spec.config, k, v) != v}
    if changed:
        text = ", ".join(f"{k}={v}" for k, v in changed.items())
        notes.append(f"checkpoint config ({text}), not the published one")
    if spec.tlc is not None and options.size <= spec.tlc.base[0]:
        notes.append(f"at {options.size}px every TLC kernel covers the feature: global pooling")
    return ProfileReport(
        model=spec.name,
        size=options.size,
        batch=options.batch,
        device=device.type,
        precision=options.precision,
        compiled=options.compile,
        channels_last=options.channels_last,
        params=params.inference,
        params_with_aux=params.with_aux,
        params_used=params.used_in_eval,
        macs_torchinfo=macs.torchinfo,
        macs_full=macs.full,
        macs_breakdown={
            "torchinfo": macs.torchinfo,
            "functional_convs": macs.functional_convs,
            "fft": macs.fft,
            "elementwise": macs.elementwise,
            "matmul": macs.matmul,
        },
        latency_ms=latency,
        peak_memory_mb=peak_mb,
        environment=env,
        notes=tuple(notes),
    )


def _time_forward(
    name: str,
    config: dict[str, Any],
    shape: tuple[int, ...],
    device: torch.device,
    options: ProfileOptions,
) -> tuple[LatencyStats, float]:
    torch.backends.cudnn.benchmark = options.cudnn_benchmark
    model = create(name, **config).to(device)
    x = torch.rand(shape, device=device)
    if options.channels_last:
        to_channels_last(model)  # Module.to(memory_format=) refuses the 5-D DFFN gains
        x = x.contiguous(memory_format=torch.channels_last)
    runner = torch.compile(model) if options.compile else model
    dtype = PRECISIONS[options.precision]
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()

    def forward() -> None:
        with torch.inference_mode(), autocast:
            runner(x)

    if device.type == "cuda":
        # Peak after warm-up: cudnn.benchmark's algorithm search allocates large trial
        # workspaces during the first passes, which steady-state inference never needs.
        time_cuda(forward, options.warmup, 0)
        torch.cuda.reset_peak_memory_stats(device)
        samples = time_cuda(forward, 0, options.iters)
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        with _RssSampler() as rss:
            samples = time_cpu(forward, options.warmup, options.iters)
        peak = rss.peak / 2**20
    return summarize_ms(samples), peak
