"""`deblur profile`: parameters, MACs (torchinfo and complete) and forward latency."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..defaults import LATENCY_ITERS, LATENCY_TIME_BUDGET, LATENCY_WARMUP, PROFILE_SIZE
from .options import (
    Device,
    Engine,
    EngineOption,
    ItersOption,
    JsonOption,
    Precision,
    TimeBudgetOption,
    WarmupOption,
)

if TYPE_CHECKING:
    from rich.status import Status


def profile(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Registered model name, or 'all' for every model.")
    ] = "all",
    size: Annotated[int, typer.Option(min=1, help="Square input side in pixels (a multiple of each model's size multiple).")] = PROFILE_SIZE,
    batch: Annotated[int, typer.Option(min=1, help="Batch size.")] = 1,
    device: Annotated[Device, typer.Option(help="Where the models run.")] = Device.auto,
    precision: Annotated[Precision, typer.Option(help="Autocast precision (FFT paths stay fp32).")] = Precision.fp32,
    engine: EngineOption = Engine.torch,
    compile: Annotated[bool, typer.Option("--compile", help="Time a torch.compile'd model.")] = False,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Use channels_last memory format.")] = False,
    cudnn_benchmark: Annotated[bool, typer.Option("--cudnn-benchmark", help="Enable cudnn.benchmark.")] = False,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads (default: torch's default).", show_default=False)] = None,
    iters: ItersOption = LATENCY_ITERS,
    warmup: WarmupOption = LATENCY_WARMUP,
    time_budget: TimeBudgetOption = LATENCY_TIME_BUDGET,
    timing: Annotated[bool, typer.Option("--timing/--no-timing", help="Measure latency (else counts only).")] = True,
    as_json: JsonOption = False,
) -> None:
    """Profile one model or all of them at SIZExSIZE (the seed's slide-20 table, labelled).

    Each model's row is printed as soon as it is measured; timing costs at most about
    --time-budget seconds per model plus a share of it for warm-up (a model slower than that
    gets one warm-up pass and one timed pass)."""
    from ..models import list_models
    from ..profiling import ProfileOptions, profile_models
    from .output import core_errors, print_json, stderr, stdout
    from .render import profile_rows

    with core_errors():
        options = ProfileOptions(
            size=size, batch=batch, device=device.value, precision=precision.value,
            compile=compile, channels_last=channels_last, cudnn_benchmark=cudnn_benchmark,
            threads=threads, iters=iters, warmup=warmup, time_budget=time_budget or None,
            timing=timing, engine=engine.value,
        )  # fmt: skip
        names = list_models() if model == "all" else [model]
        with stderr.status("") as status:
            reports = _announced(profile_models(names, options), names, f"{size}x{size}", status)
            if as_json:
                done = list(reports)
            else:
                for part in profile_rows(options, reports):
                    status.stop()  # one live display at a time on a shared terminal
                    stdout.print(part)
                    status.start()
    if as_json:
        print_json(done if model == "all" else done[0])


def _announced(
    reports: Iterator[Any], names: list[str], size: str, status: Status
) -> Iterator[Any]:
    """Pass `reports` through, saying on stderr which model is being measured meanwhile."""
    for i, name in enumerate(names):
        status.update(f"profiling {name} at {size} ({i + 1} of {len(names)})...")
        yield next(reports)
