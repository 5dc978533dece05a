"""`deblur evaluate`: the run's summary table."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from .common import protocol_text


def _seconds(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def evaluation_table(run: Any) -> Table:
    p = run.protocol
    protocol = protocol_text(p)
    source = (
        f"{run.model.model} ({run.model.weights}), {run.model.device}, {run.model.precision}, "
        f"tiles {run.model.tile or 'whole image'}/{run.model.overlap}"
        f"{', TLC' if run.model.tlc else ''}{', TTA x8' if run.model.tta else ''}"
        if run.model is not None
        else f"predictions in {run.predictions}"
    )
    table = Table(title=f"Evaluation on {run.dataset}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("images", f"{run.count}" + (f" ({run.resumed} resumed)" if run.resumed else "")),
        ("mean PSNR", f"{run.mean.psnr:.4f} dB"),
        ("mean SSIM", f"{run.mean.ssim:.4f}"),
        ("ECC failures", str(run.ecc_failures) if p["align"] == "ecc" else "-"),
        ("skipped pairs", f"[red]{len(run.skipped)}[/]" if run.skipped else "0"),
    ]
    if run.missing:
        rows.append(("missing predictions", f"[red]{len(run.missing)}[/]"))
    rows += [
        ("seconds: inference", _seconds(run.seconds.inference)),
        ("seconds: alignment", _seconds(run.seconds.alignment)),
        ("seconds: metrics", _seconds(run.seconds.metrics)),
        ("seconds: wall", _seconds(run.seconds.wall)),
    ]
    for label, value in rows:
        table.add_row(label, value)
    for label, value in (("protocol", protocol), ("predictions", source)):
        table.add_row(label, escape(value))
    if run.results_path:
        table.add_row("per-image results", escape(run.results_path))
    where = f"summed over {run.workers} worker processes" if run.workers else "in this process"
    table.caption = (
        f"alignment and metrics: {where}; opencv {p['libraries'].get('opencv', '?')}, "
        f"scikit-image {p['libraries'].get('scikit-image', '?')}"
    )
    table.caption_justify = "left"
    return table


# --- deblur benchmark -------------------------------------------------------------------------
