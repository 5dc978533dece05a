"""Profile registered models: count on meta tensors, then time real forward passes, one
`ProfileReport` per model, yielded as each finishes (spec: `protocols.md` §5)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from ..errors import InputSizeError, ProfileError
from ..inference import autocast, cudnn_benchmark, resolve_device, to_channels_last, torch_threads
from ..models import ModelSpec, create, get_spec
from .environment import environment
from .latency import LatencyStats, time_cpu, time_cuda
from .macs import MacCounts, count_macs
from .memory import RssSampler
from .params import ParamCounts, parameter_counts
from .report import ProfileOptions, ProfileReport


def profile_models(
    names: Sequence[str], options: ProfileOptions = ProfileOptions()
) -> Iterator[ProfileReport]:
    """Profile each model in turn, yielding its report as soon as it is measured (so a caller
    can show a row per model while the next one runs). Every name, size and precision is
    checked now, before the first model runs, so a bad request fails at once."""
    specs = [get_spec(name) for name in names]
    for spec in specs:
        check_request(spec, options)
    return (profile_model(spec.name, options) for spec in specs)


def profile_model(
    name: str,
    options: ProfileOptions = ProfileOptions(),
    config: Mapping[str, Any] | None = None,
) -> ProfileReport:
    """Params, MACs (both counts) and forward latency of a registered model, at its published
    config or with `config` overrides (e.g. a checkpoint's `{"dim": 64}`).

    Raises:
        InputSizeError: `options.size` is not a multiple of the model's size multiple.
        ProfileError: the model does not support `options.precision`.
    """
    config = dict(config or {})
    spec = get_spec(name)
    device = resolve_device(check_request(spec, options))
    shape = (options.batch, 3, options.size, options.size)
    params, macs = _counts(spec, config, shape)
    latency, peak_mb = None, None
    with torch_threads(options.threads), cudnn_benchmark(options.cudnn_benchmark):
        if options.timing:
            latency, peak_mb = _time_forward(spec, config, shape, device, options)
        env = environment(device, options.cudnn_benchmark)
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
        macs_breakdown=macs.breakdown(),
        latency_ms=latency,
        peak_memory_mb=peak_mb,
        environment=env,
        notes=_notes(spec, config, options.size),
        iters=options.iters,
        time_budget_s=options.time_budget,
        engine=options.engine,
    )


def check_request(spec: ModelSpec, options: ProfileOptions) -> str:
    """What only the model can tell: its size multiple and the precisions it supports.

    Returns the device to run on: `options.device`, or the CPU for an ONNX engine."""
    if options.size % spec.size_multiple:
        low = options.size // spec.size_multiple * spec.size_multiple
        nearest = f"{low} or {low + spec.size_multiple}" if low else str(spec.size_multiple)
        raise InputSizeError(
            f"{spec.name}: size {options.size} is not a multiple of {spec.size_multiple} "
            f"(try {nearest})"
        )
    if options.engine != "torch":
        from ..export import check_engine_settings, require_engine

        require_engine(options.engine)
        device = check_engine_settings(options.engine, options.device, options.precision)
    else:
        device = options.device
    if options.precision not in spec.precisions:
        raise ProfileError(
            f"{spec.name} does not support {options.precision} "
            f"(use one of {', '.join(spec.precisions)})"
        )
    return device


def _counts(
    spec: ModelSpec, config: dict[str, Any], shape: tuple[int, ...]
) -> tuple[ParamCounts, MacCounts]:
    with torch.device("meta"):  # shapes only: no memory, no random init, no arithmetic
        model = create(spec.name, **config)
        x = torch.empty(shape)
    return parameter_counts(spec.name, model, x), count_macs(model, x)


def _notes(spec: ModelSpec, config: dict[str, Any], size: int) -> tuple[str, ...]:
    notes = []
    changed = {k: v for k, v in config.items() if getattr(spec.config, k, v) != v}
    if changed:
        text = ", ".join(f"{k}={v}" for k, v in changed.items())
        notes.append(f"checkpoint config ({text}), not the published one")
    if spec.tlc is not None and size <= spec.tlc.base[0]:
        notes.append(f"at {size}px every TLC kernel covers the feature: global pooling")
    return tuple(notes)


def _time_forward(
    spec: ModelSpec,
    config: dict[str, Any],
    shape: tuple[int, ...],
    device: torch.device,
    options: ProfileOptions,
) -> tuple[LatencyStats, float]:
    """Latency statistics and peak memory (MiB) of the forward pass on random input."""
    model = create(spec.name, **config).to(device)
    x = torch.rand(shape, device=device)
    if options.engine != "torch":
        return _time_engine(spec, model, x, options)
    if options.channels_last:
        to_channels_last(model)  # Module.to(memory_format=) refuses the 5-D DFFN gains
        x = x.contiguous(memory_format=torch.channels_last)
    runner = torch.compile(model) if options.compile else model

    def forward() -> None:
        with torch.inference_mode(), autocast(device, options.precision):
            runner(x)

    if device.type == "cuda":
        # Peak after warm-up: cudnn.benchmark's algorithm search allocates large trial
        # workspaces during the first passes, which steady-state inference never needs.
        stats = time_cuda(
            forward, options.budget, lambda: torch.cuda.reset_peak_memory_stats(device)
        )
        return stats, torch.cuda.max_memory_allocated(device) / 2**20
    with RssSampler() as rss:
        stats = time_cpu(forward, options.budget)
    return stats, rss.peak / 2**20


# Random full-width weights drive activations far beyond trained ones, where equally exact fp32
# paths differ by ~1e-4 (FFTformer); profiling times the engine, it does not judge the export.
_RANDOM_WEIGHTS_TOLERANCE = 1e-2


def _time_engine(
    spec: ModelSpec, model: torch.nn.Module, x: torch.Tensor, options: ProfileOptions
) -> tuple[LatencyStats, float]:
    """The forward through ONNX Runtime / OpenVINO: exported (untimed) into a temporary folder,
    since these random weights are never seen again."""
    import tempfile
    from pathlib import Path

    from ..export import OnnxEngine

    with tempfile.TemporaryDirectory(prefix="deblur-profile-") as folder:
        engine = OnnxEngine(
            model, spec, engine=options.engine, tlc=spec.tlc is not None, weights="random",
            threads=options.threads, cache_dir=Path(folder),
            tolerance=_RANDOM_WEIGHTS_TOLERANCE,
        )  # fmt: skip
        engine(x[:1])  # export and session start-up, outside the timing

        def forward() -> None:
            engine(x)

        with RssSampler() as rss:
            stats = time_cpu(forward, options.budget)
        return stats, rss.peak / 2**20
