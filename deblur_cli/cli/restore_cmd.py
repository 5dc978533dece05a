"""`deblur restore`: deblur files, folders or globs with a published (or your own) checkpoint."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..defaults import DEFAULT_MODEL, IMAGE_QUALITY, IMAGE_SUFFIXES, RESTORE_SUFFIX
from .options import (
    OVERLAP_HELP,
    TILE_BATCH_HELP,
    TILE_HELP,
    Blend,
    Compare,
    Device,
    Engine,
    EngineOption,
    JsonOption,
    Placement,
    Precision,
    flag,
)

if TYPE_CHECKING:
    from ..inference import ImageResult, Job, OutputOptions, Restorer

_EXTS = ", ".join(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES)


def restore(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.", show_default=False)],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output folder, or the exact file for a single input. Default: beside each input. Inputs are never overwritten.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help=f"Model name (default {DEFAULT_MODEL}, or detected from --weights).")] = None,
    weights: Annotated[str | None, typer.Option("--weights", "-w", help="Weights registry name or checkpoint file (architecture detected when --model is omitted).")] = None,
    tile: Annotated[int | None, typer.Option(min=0, help=TILE_HELP, show_default=False)] = None,
    overlap: Annotated[int | None, typer.Option(min=0, help=OVERLAP_HELP, show_default=False)] = None,
    tile_batch: Annotated[int | None, typer.Option("--tile-batch", min=1, help=TILE_BATCH_HELP, show_default=False)] = None,
    blend: Annotated[Blend, typer.Option(help="Tile blending: cosine (edge-aware) or hamming (the seed's).")] = Blend.cosine,
    placement: Annotated[Placement, typer.Option(help="Tile placement: even, or seed (the seed's rule).")] = Placement.even,
    device: Annotated[Device, typer.Option(help="Where to run.")] = Device.auto,
    precision: Annotated[Precision, typer.Option(help="Autocast precision (FFT paths stay fp32).")] = Precision.fp32,
    engine: EngineOption = Engine.torch,
    tlc: Annotated[bool | None, typer.Option("--tlc/--no-tlc", help="Test-time local converter (default: only mlwnet-local).", show_default=False, metavar="")] = None,
    tta: Annotated[bool, flag("--tta", help="x8 flip/transpose self-ensemble (8x slower).")] = False,
    resize_long: Annotated[int | None, typer.Option("--resize-long", min=1, help="Downscale so the long side is at most N px before restoring (output at that size).", show_default=False)] = None,
    gif: Annotated[bool, flag("--gif", help="Also write an animated GIF alternating blurry and restored.")] = False,
    gif_label: Annotated[str | None, typer.Option("--gif-label", help="Caption for the restored GIF frame.", show_default=False)] = None,
    compare: Annotated[Compare | None, typer.Option("--compare", help="Also write a comparison PNG: side-by-side or split.", show_default=False)] = None,
    suffix: Annotated[str, typer.Option(help="Appended to each output file's stem (no path separators).")] = RESTORE_SUFFIX,
    ext: Annotated[str | None, typer.Option(help=f"Output format: {_EXTS} (default: the input's).", show_default=False)] = None,
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WebP quality.")] = IMAGE_QUALITY,
    overwrite: Annotated[bool, flag("--overwrite", help="Replace existing outputs (default: skip them). Never replaces an input.")] = False,
    recursive: Annotated[bool, flag("--recursive", "-r", help="Search folders recursively.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Deblur images with a trained network; prints a summary (or one JSON object per image)."""
    from ..inference import (
        ImageResult,
        OutputOptions,
        Restorer,
        collect_inputs,
        keep_freed_memory,
        load_for_inference,
        plan_jobs,
        resolve_device,
        resolve_tiles,
    )
    from .engines import check_engine, engine_forward
    from .output import core_errors, stderr, stdout
    from .progress_bars import download_progress
    from .render import restore_summary

    with core_errors():
        device = check_engine(engine, device, precision)
        found = collect_inputs(inputs, recursive)
        options = OutputOptions(
            output=output, suffix=suffix, ext=ext, quality=quality, overwrite=overwrite,
            gif=gif, gif_label=gif_label, compare=compare.value if compare else None,
            resize_long=resize_long,
        )  # fmt: skip
        jobs = plan_jobs(found.files, options)
        with download_progress() as on_bytes:
            ready = load_for_inference(model, weights, tlc=tlc, progress=on_bytes)
        dev = resolve_device(device.value)
        tiles = resolve_tiles(
            ready.spec, dev, tile=tile, overlap=overlap, tile_batch=tile_batch,
            blend=blend.value, placement=placement.value,
        )  # fmt: skip
        if dev.type == "cpu":
            keep_freed_memory()  # 1.46x per CPU tile; DEBLUR_KEEP_FREED_MEMORY=0 opts out
        restorer = Restorer(
            ready.model, ready.spec, device=dev.type, precision=precision.value,
            tiles=tiles, tta=tta, engine=engine_forward(engine, ready),
        )  # fmt: skip
    on_engine = "" if engine is Engine.torch else f" ({engine.value})"
    stderr.print(
        f"[dim]{escape(ready.spec.name)} ({escape(ready.weights)}) on {dev.type}{on_engine}, "
        f"{precision.value}, tiles {tiles.tile or 'whole image'}/{tiles.overlap}"
        f"{', TLC' if ready.tlc else ''}{', TTA x8' if tta else ''}[/]",
        highlight=False,
    )
    results = [ImageResult(problem.split(":")[0], None, "failed", error=problem)
               for problem in found.problems]  # fmt: skip
    _report(results, as_json)
    results += _run_batch(restorer, jobs, options, as_json)
    if not as_json:
        stdout.print(restore_summary(results, dev.type, precision.value))
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


def _run_batch(
    restorer: Restorer, jobs: list[Job], options: OutputOptions, as_json: bool
) -> list[ImageResult]:
    """Restore every job under one progress bar, reporting each result as it comes."""
    from ..inference import run_jobs
    from .progress_bars import restore_progress

    results = []
    with restore_progress(len(jobs)) as bar:
        for result in run_jobs(restorer, jobs, options, on_tiles=bar.on_tiles):
            bar.advance(result)
            results.append(result)
            _report([result], as_json)
    return results


def _report(results: Iterable[ImageResult], as_json: bool) -> None:
    """One JSON line per result, or the failures and resize notes on stderr."""
    from .output import print_json, stderr

    for result in results:
        if as_json:
            print_json(result, compact=True)
        elif result.status == "failed":
            stderr.print(f"[bold red]error:[/] {escape(result.error or '')}", highlight=False)
        elif result.resized_to:
            h, w = result.resized_to
            stderr.print(f"[yellow]note:[/] {escape(result.source)} restored at {w}x{h} (--resize-long)")

