"""`deblur evaluate`: score a model (or a folder of restored images) on RealBlur, GoPro or
paired folders with the published protocols (protocols.md §1)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..defaults import ECC_ITERS
from .options import (
    OVERLAP_HELP,
    TILE_BATCH_HELP,
    TILE_HELP,
    Align,
    Blend,
    DatasetName,
    Device,
    Engine,
    EngineOption,
    GoproBlur,
    JsonOption,
    Placement,
    Precision,
    Split,
    SsimVariant,
    flag,
)

if TYPE_CHECKING:
    from ..datasets import Dataset
    from ..evaluation import EvalProgress

RESULTS_HELP = (
    "JSONL file that receives each image's scores as soon as they are known (what --resume "
    "reads). Default: beside --output (results.json -> results.jsonl), else "
    "<save-dir>/results.jsonl, else ./deblur-eval_<dataset>_<model>_<weights>.jsonl "
    "(or _<predictions folder name>) in the current folder. An earlier run's file is never "
    "replaced: add --resume to go on with it, or --overwrite to start again."
)


def evaluate(
    ctx: typer.Context,
    dataset: Annotated[DatasetName, typer.Option("--dataset", "-d", help="Dataset, which picks the layout and the default protocol (RealBlur: ECC-aligned; GoPro, paired: unaligned).", show_default=False)],
    root: Annotated[Path, typer.Option("--root", help="Dataset root: the folder holding the RealBlur lists, GOPRO_Large, or blur/ + sharp/ folders.", show_default=False)],
    split: Annotated[Split, typer.Option(help="Which split's list or folder to score.")] = Split.test,
    list_file: Annotated[Path | None, typer.Option("--list", help="List file to use instead of the split's (paths relative to --root).", show_default=False)] = None,
    gopro_blur: Annotated[GoproBlur, typer.Option("--gopro-blur", help="GoPro blurry-input folder.")] = GoproBlur.blur,
    predictions: Annotated[Path | None, typer.Option("--predictions", "-p", help="Score this folder of restored images (official names: <scene>_<N>.png for RealBlur, the relative path for GoPro/paired) instead of running a model.", show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model to run (detected from --weights when omitted).", show_default=False)] = None,
    weights: Annotated[str | None, typer.Option("--weights", "-w", help="Weights registry name or checkpoint file (default: the model's published weights).", show_default=False)] = None,
    tile: Annotated[int | None, typer.Option(min=0, help=TILE_HELP, show_default=False)] = None,
    overlap: Annotated[int | None, typer.Option(min=0, help=OVERLAP_HELP, show_default=False)] = None,
    tile_batch: Annotated[int | None, typer.Option("--tile-batch", min=1, help=TILE_BATCH_HELP, show_default=False)] = None,
    blend: Annotated[Blend, typer.Option(help="Tile blending: cosine (edge-aware) or hamming (the seed's).")] = Blend.cosine,
    placement: Annotated[Placement, typer.Option(help="Tile placement: even, or seed (the seed's rule).")] = Placement.even,
    device: Annotated[Device, typer.Option(help="Where the model runs.")] = Device.auto,
    precision: Annotated[Precision, typer.Option(help="Autocast precision (FFT paths stay fp32).")] = Precision.fp32,
    engine: EngineOption = Engine.torch,
    tlc: Annotated[bool | None, typer.Option("--tlc/--no-tlc", help="Test-time local converter (default: only mlwnet-local).", show_default=False, metavar="")] = None,
    tta: Annotated[bool, flag("--tta", help="x8 flip/transpose self-ensemble (8x slower).")] = False,
    align: Annotated[Align | None, typer.Option(help="ecc: RealBlur protocol (ECC + masked metrics); none: plain PSNR/SSIM. Default: ecc for RealBlur, none otherwise.", show_default=False)] = None,
    ssim: Annotated[SsimVariant | None, typer.Option(help="SSIM convention (default: realblur when aligned, ssim3d otherwise).", show_default=False)] = None,
    ecc_iters: Annotated[int, typer.Option("--ecc-iters", min=1, help="ECC iterations per image (the default is the official script's).")] = ECC_ITERS,
    quantize: Annotated[bool, typer.Option("--quantize/--no-quantize", help="Round model outputs to 8 bits before scoring, as the official flow does (--no-quantize reproduces the seed).", metavar="")] = True,
    workers: Annotated[int | None, typer.Option(min=0, help="Processes that align and score while the model runs (default: CPU count, or 1 when the model runs on the CPU; 0 = in this process). At most one per CPU core and per image to score.", show_default=False)] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Score only the first N pairs.", show_default=False)] = None,
    save_dir: Annotated[Path | None, typer.Option("--save-dir", help="Write the predictions as 8-bit PNGs under their official names, plus metrics.csv (never inside the dataset).", show_default=False)] = None,
    results: Annotated[Path | None, typer.Option("--results", help=RESULTS_HELP, show_default=False)] = None,
    resume: Annotated[bool, flag("--resume", help="Keep the images already in the results file and score only the rest.")] = False,
    overwrite: Annotated[bool, flag("--overwrite", help="Start again although the results file holds an earlier run's scores; that file is kept beside it as <name>.<date-time>.bak.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the JSON report to this file.", show_default=False)] = None,
    as_json: JsonOption = False,
) -> None:
    """Score a model or a predictions folder; prints a summary table (or the JSON report).

    Per-image scores stream to a JSONL results file (see --results), so --resume continues a killed run. Exits 1 when any pair was skipped (bad list line, missing or unreadable image, size mismatch, missing prediction); the others are still scored. Ctrl-C stops after the images being scored and prints the command that resumes.
    """
    from rich.markup import escape

    from ..evaluation import default_protocol, run_evaluation, save_report
    from .engines import check_engine, engine_forward
    from .output import core_errors, fail, print_json, stderr, stdout
    from .render import evaluation_table, protocol_text

    model_options = (model, weights, tile, overlap, tile_batch, tlc) != (None,) * 6 or tta
    model_options = model_options or engine is not Engine.torch
    if predictions is not None and model_options:
        raise fail("--predictions scores existing images: drop the model options")
    if predictions is None and model is None and weights is None:
        raise fail("give --model/--weights to run a network, or --predictions DIR")

    with core_errors():
        device = check_engine(engine, device, precision)
        protocol = default_protocol(
            dataset.value, align=None if align is None else align is Align.ecc,
            ssim=ssim.value if ssim else None, ecc_iters=ecc_iters, quantize=quantize,
        )  # fmt: skip
        data = _open_dataset(root, dataset, split, list_file, gopro_blur)
        # Refuse what would fail (or lose an earlier run) before a model is loaded.
        _preflight(data, save_dir, results, resume, overwrite)
        ready, tiles = None, None
        if predictions is None:
            ready, tiles = _load_model(model, weights, tlc, device, tile, overlap, tile_batch,
                                       blend, placement)  # fmt: skip
        if results is None:
            results = _default_results(data, ready, predictions, output, save_dir)
            _preflight(data, None, results, resume, overwrite)

    total = min(len(data.pairs), limit or len(data.pairs))
    what = f"{ready.spec.name} ({ready.weights})" if ready else f"predictions in {predictions}"
    stderr.print(
        f"[dim]{data.name}: {total} pairs from {escape(str(data.source))}; {escape(what)}; "
        f"{protocol_text(protocol.as_dict())}; results -> {escape(str(results))}[/]",
        highlight=False,
        soft_wrap=True,
    )
    with core_errors():
        bar = _EvalBar(total)
        try:
            with bar:
                run = run_evaluation(
                    data, predictions=predictions, model=ready, tiles=tiles, device=device.value,
                    precision=precision.value, tta=tta, protocol=protocol, workers=workers,
                    engine=engine_forward(engine, ready) if ready else None, limit=limit, results=results, resume=resume, overwrite=overwrite,
                    save_dir=save_dir, progress=bar.update,
                )  # fmt: skip
        except KeyboardInterrupt:
            raise _interrupted(ctx, results, bar.scored, total) from None
        for note in run.notes:
            stderr.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
        if output is not None:
            save_report(run, output)
    if as_json:
        print_json(run)
    else:
        stdout.print(evaluation_table(run))
    if run.skipped:
        raise typer.Exit(1)


def _open_dataset(
    root: Path, dataset: DatasetName, split: Split, list_file: Path | None, gopro_blur: GoproBlur
) -> Dataset:
    """The dataset, its skipped items printed as errors and its notes as notes."""
    from rich.markup import escape

    from ..datasets import open_dataset
    from .output import stderr

    data = open_dataset(
        root, dataset=dataset.value, split=split.value, list_path=list_file,
        gopro_blur=gopro_blur.value,
    )  # fmt: skip
    for item in data.skipped:
        stderr.print(f"[bold red]error:[/] {escape(str(item))}", highlight=False, soft_wrap=True)
    for note in data.notes:
        stderr.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    return data


def _preflight(
    data: Dataset, save_dir: Path | None, results: Path | None, resume: bool, overwrite: bool
) -> None:
    """The core's own checks of the output folder and the results file, run early."""
    from ..evaluation import check_results_file, check_save_dir

    if save_dir is not None:
        check_save_dir(save_dir, data)
    if results is not None:
        check_results_file(results, resume=resume, overwrite=overwrite)


def _default_results(
    data: Dataset, ready: Any, predictions: Path | None, output: Path | None, save_dir: Path | None
) -> Path:
    from ..evaluation import default_results_path, run_label

    label = run_label(ready, predictions)
    return default_results_path(data.name, label, output=output, save_dir=save_dir)


def _interrupted(ctx: typer.Context, results: Path, scored: int, total: int) -> typer.Exit:
    """Ctrl-C: one line saying where the scores are and the exact command that goes on."""
    from rich.markup import escape

    from .output import rerun_command, stderr

    again = rerun_command(
        ctx, ("resume", "overwrite", "results"), ["--results", str(results), "--resume"]
    )
    stderr.print(
        f"[yellow]interrupted:[/] {scored} of {total} images scored, kept in "
        f"{escape(str(results))}; go on with: {escape(again)}",
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(130)


def _load_model(
    model: str | None,
    weights: str | None,
    tlc: bool | None,
    device: Device,
    tile: int | None,
    overlap: int | None,
    tile_batch: int | None,
    blend: Blend,
    placement: Placement,
) -> tuple[Any, Any]:
    """The network (never untrained) and its tile settings: None (the registry's defaults)
    unless a tile option differs from them."""
    from ..inference import keep_freed_memory, load_for_inference, resolve_device, resolve_tiles
    from .progress_bars import download_progress

    with download_progress() as on_bytes:
        ready = load_for_inference(model, weights, tlc=tlc, progress=on_bytes)
    if resolve_device(device.value).type == "cpu":
        keep_freed_memory()  # 1.46x per CPU tile; DEBLUR_KEEP_FREED_MEMORY=0 opts out
    custom = (tile, overlap, tile_batch) != (None, None, None)
    custom = custom or blend is not Blend.cosine or placement is not Placement.even
    tiles = None
    if custom:
        tiles = resolve_tiles(
            ready.spec, resolve_device(device.value), tile=tile, overlap=overlap, tile_batch=tile_batch,
            blend=blend.value, placement=placement.value,
        )  # fmt: skip
    return ready, tiles


class _EvalBar:
    """Progress on stderr: images done, running mean PSNR/SSIM; problems printed above it."""

    def __init__(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from .output import stderr

        self._bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[means]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=stderr, transient=True,
        )  # fmt: skip
        self._task = self._bars.add_task("scoring", total=total, means="")
        self.scored = 0

    def __enter__(self) -> _EvalBar:
        self._bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.__exit__(*exc)  # type: ignore[arg-type]

    def update(self, event: EvalProgress) -> None:
        from rich.markup import escape

        if event.skipped is not None:
            self._bars.console.print(f"[bold red]error:[/] {escape(str(event.skipped))}",
                                     highlight=False, soft_wrap=True)  # fmt: skip
        self.scored = event.scored
        means = f"PSNR {event.mean_psnr:.3f}  SSIM {event.mean_ssim:.4f}" if event.scored else ""
        self._bars.update(self._task, completed=event.done, total=event.total, means=means)
