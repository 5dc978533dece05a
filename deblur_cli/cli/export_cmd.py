"""`deblur export`: a network with its weights as an ONNX file, verified in ONNX Runtime."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from .options import JsonOption, flag


class ExportFormat(str, Enum):  # export.EXPORT_FORMATS
    onnx = "onnx"


def export(
    target: Annotated[
        str,
        typer.Argument(
            metavar="MODEL|WEIGHTS",
            help="A model name (its published weights), a weights name or a checkpoint file.",
        ),
    ],
    format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="Output format.", metavar="onnx")
    ] = ExportFormat.onnx,
    size: Annotated[
        str | None,
        typer.Option(
            help="Fixed input size HxW (multiples of the model's size multiple); default: the model's tile.",
            metavar="HxW",
        ),
    ] = None,
    dynamic: Annotated[bool, flag("--dynamic", help="Any H and W that are multiples of the size multiple.")] = False,
    tlc: Annotated[bool, flag("--tlc", help="Add the test-time local converter (always on for mlwnet-local).")] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output file (default: <weights>-<HxW>.onnx here).", metavar="FILE"),
    ] = None,
    opset: Annotated[int | None, typer.Option(help="ONNX opset (default 18).", metavar="N")] = None,
    random_weights: Annotated[
        bool, flag("--random-weights", help="Export an untrained network (structure tests only).")
    ] = False,
    overwrite: Annotated[bool, flag("--overwrite", help="Replace an existing output file.")] = False,
    tolerance: Annotated[
        float | None,
        typer.Option(
            help="Largest |ONNX Runtime - PyTorch| accepted (default 1e-4).", metavar="X", min=0.0
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Export a network to ONNX with its input contract in the metadata; the file is written
    only after ONNX Runtime reproduces PyTorch on a test input (max difference <= --tolerance)."""
    from .output import core_errors, emit, stderr

    with core_errors():
        from ..export import DEFAULT_OPSET, TOLERANCE, export_model, parse_size

        hw = parse_size(size) if size is not None else None
        with stderr.status(f"exporting {target} to {format.value}...") as status:
            report = export_model(
                target, output, size=hw, dynamic=dynamic, tlc=True if tlc else None,
                opset=opset or DEFAULT_OPSET, random_weights=random_weights, overwrite=overwrite,
                tolerance=TOLERANCE if tolerance is None else tolerance,
                on_stage=lambda stage: status.update(f"{stage} {target}..."),
            )  # fmt: skip
    if report.weights == "random":
        stderr.print("[yellow]warning:[/] the file holds untrained (random) weights", highlight=False)
    emit(report, as_json, _render)


def _render(report: Any) -> Any:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    shape = "x".join(str(d) for d in report.input_shape)
    rows = [
        ("wrote", f"{report.path} ({report.bytes / 1e6:.1f} MB)"),
        ("model", report.model + (" + local converter" if report.tlc else "")),
        ("weights", report.weights + (f" (sha256 {report.weights_sha256[:12]}...)" if report.weights_sha256 else "")),
        ("input", f"{shape} float32 NCHW RGB in [0, 1], opset {report.opset}"),
        ("max |ONNX - PyTorch|", f"{report.max_diff:.2e} (tolerance {report.tolerance:g})"),
        ("time", f"{report.seconds:.1f} s"),
    ]
    for key, value in rows:
        table.add_row(f"[bold]{key}[/]", value)
    return table
