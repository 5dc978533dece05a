"""`deblur benchmark`: every model x tile setting scored on one dataset (the seed's slide-19
table), the complexity table, and optionally a PSNR-vs-MACs plot; cached results are reused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ..defaults import (
    BENCHMARK_TILES,
    ECC_ITERS,
    LATENCY_ITERS,
    LATENCY_TIME_BUDGET,
    LATENCY_WARMUP,
)
from .options import (
    Align,
    DatasetName,
    Device,
    ItersOption,
    JsonOption,
    Precision,
    Split,
    SsimVariant,
    TimeBudgetOption,
    WarmupOption,
)


def benchmark(
    models: Annotated[str, typer.Option("--models", "-m", help="Comma-separated registry names, e.g. ce-mlwnet,mlwnet,fftformer.", show_default=False)],
    root: Annotated[Path, typer.Option("--root", help="Dataset folder or list file (RealBlur root, GoPro root, paired folders, .txt/.json list).", show_default=False)],
    dataset: Annotated[DatasetName | None, typer.Option("--dataset", "-d", help="Picks the RealBlur variant and the default protocol (RealBlur: ECC-aligned; GoPro, paired: unaligned). Default: detected.", show_default=False)] = None,
    split: Annotated[Split, typer.Option(help="Which split's list or folder to score.")] = Split.test,
    weights: Annotated[str | None, typer.Option("--weights", "-w", help="Per-model weights, MODEL=NAME|FILE,... (default: each model's registry weights).", show_default=False)] = None,
    tiles: Annotated[str, typer.Option(help="Tile settings TILE/OVERLAP or 'full', comma-separated.")] = BENCHMARK_TILES,
    limit: Annotated[int | None, typer.Option(min=1, help="Score only the first N pairs.", show_default=False)] = None,
    speed: Annotated[bool, typer.Option("--speed", help="Add model-only latency and end-to-end seconds per image (median).")] = False,
    iters: ItersOption = LATENCY_ITERS,
    warmup: WarmupOption = LATENCY_WARMUP,
    time_budget: TimeBudgetOption = LATENCY_TIME_BUDGET,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PSNR-vs-MACs figure (png, pdf, svg; needs deblur-cli[plot]).", show_default=False)] = None,
    ecc_iters: Annotated[int, typer.Option("--ecc-iters", min=1, help="ECC iterations (RealBlur protocol).")] = ECC_ITERS,
    align: Annotated[Align | None, typer.Option(help="ecc: RealBlur protocol (ECC + masked metrics); none: plain PSNR/SSIM. Default: ecc for RealBlur, none otherwise.", show_default=False)] = None,
    ssim: Annotated[SsimVariant | None, typer.Option(help="SSIM convention (default: realblur when aligned, ssim3d otherwise).", show_default=False)] = None,
    device: Annotated[Device, typer.Option(help="Where the models run.")] = Device.auto,
    precision: Annotated[Precision, typer.Option(help="Autocast precision (FFT paths stay fp32).")] = Precision.fp32,
    workers: Annotated[int | None, typer.Option(min=0, help="Scoring processes (default: CPU count; 0 = in process).", show_default=False)] = None,
    rescore: Annotated[bool, typer.Option("--rescore", help="Ignore cached results and score everything again.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the JSON report to this file.", show_default=False)] = None,
    as_json: JsonOption = False,
) -> None:
    """Benchmark models x tile settings on a dataset: PSNR/SSIM table plus complexity table."""
    from ..benchmark import (
        BenchmarkOptions,
        parse_models,
        parse_tile_settings,
        parse_weights_map,
        plot_benchmark,
        require_matplotlib,
        run_benchmark,
        save_report,
    )
    from ..datasets import open_dataset
    from .output import core_errors, emit, stderr
    from .render import benchmark_tables

    with core_errors():
        if plot is not None:
            require_matplotlib()  # before an hour of scoring, not after
        names = parse_models(models)
        options = BenchmarkOptions(
            tiles=parse_tile_settings(tiles), weights=parse_weights_map(weights, names),
            limit=limit, align=None if align is None else align is Align.ecc,
            ssim=ssim.value if ssim else None, ecc_iters=ecc_iters, device=device.value,
            precision=precision.value, workers=workers, speed=speed, latency_iters=iters,
            latency_warmup=warmup, latency_budget=time_budget or None, rescore=rescore,
        )  # fmt: skip
        data = open_dataset(root, dataset=dataset.value if dataset else None, split=split.value)
        with _benchmark_progress() as (on_event, on_bytes):
            report = run_benchmark(data, names, options, progress=on_event, download_progress=on_bytes)
        if output is not None:
            save_report(report, output)
            stderr.print(f"[dim]report written to {output}[/]", highlight=False)
        if plot is not None:
            plot_benchmark(report, plot)
            stderr.print(f"[dim]plot written to {plot}[/]", highlight=False)
    emit(report, as_json, benchmark_tables)


@contextmanager
def _benchmark_progress() -> Iterator[tuple[Callable[[Any], None], Callable[[str, int, int | None], None]]]:
    """One live display on stderr: a transient bar per scored cell and per weights download,
    one status line for everything else. Yields (on_event, on_download_bytes)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .output import stderr

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr, transient=True,
    ) as bars:  # fmt: skip
        tasks: dict[tuple[str, str | None], Any] = {}

        def on_bytes(name: str, done: int, total: int | None) -> None:
            key = ("download", name)
            if key not in tasks:
                tasks[key] = bars.add_task(f"downloading {name} (bytes)", total=total)
            bars.update(tasks[key], completed=done, total=total)

        def on_event(event: Any) -> None:
            where = f"{event.model} {event.tiles}" if event.tiles else event.model
            if event.stage == "scoring":
                task = tasks.get((event.model, event.tiles))
                if task is None:
                    task = tasks[event.model, event.tiles] = bars.add_task("", total=event.total)
                known = event.psnr is not None and event.psnr == event.psnr  # NaN before the first
                mean = f" (mean PSNR {event.psnr:.3f})" if known else ""
                bars.update(task, completed=event.done, description=f"scoring {where}{mean}")
            elif event.stage == "cached":
                bars.console.print(f"[dim]cached: {where}[/]", highlight=False)
            else:
                bars.console.print(f"[dim]{event.stage} {where}...[/]", highlight=False)

        yield on_event, on_bytes
