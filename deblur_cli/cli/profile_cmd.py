"""`deblur profile`: parameters, MACs (torchinfo and complete) and forward latency."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import JsonOption


def profile(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Registered model name, or 'all' for every model.")
    ] = "all",
    size: Annotated[int, typer.Option(help="Square input side in pixels.")] = 256,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 1,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    precision: Annotated[str, typer.Option(help="fp32, bf16 or fp16 (autocast).")] = "fp32",
    compile: Annotated[bool, typer.Option("--compile", help="Time a torch.compile'd model.")] = False,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Use channels_last memory format.")] = False,
    cudnn_benchmark: Annotated[bool, typer.Option("--cudnn-benchmark", help="Enable cudnn.benchmark.")] = False,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: torch's default).")] = None,
    iters: Annotated[int, typer.Option(help="Timed forward passes.")] = 100,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up passes.")] = 20,
    timing: Annotated[bool, typer.Option("--timing/--no-timing", help="Measure latency (else counts only).")] = True,
    as_json: JsonOption = False,
) -> None:
    """Profile one model or all of them at SIZExSIZE (the seed's slide-20 table, labelled)."""
    from ..models import list_models
    from ..profiling import ProfileOptions, profile_model
    from .output import core_errors, emit, stderr
    from .render import profile_table

    options = ProfileOptions(
        size=size, batch=batch, device=device, precision=precision, compile=compile,
        channels_last=channels_last, cudnn_benchmark=cudnn_benchmark, threads=threads,
        iters=iters, warmup=warmup, timing=timing,
    )  # fmt: skip
    names = list_models() if model == "all" else [model]
    reports = []
    with core_errors():
        for name in names:
            with stderr.status(f"profiling {name} at {size}x{size}..."):
                reports.append(profile_model(name, options))
    emit(reports if model == "all" else reports[0], as_json, profile_table)
