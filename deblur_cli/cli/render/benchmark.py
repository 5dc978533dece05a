"""`deblur benchmark`: the slide-19 results table and the complexity table."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from .common import protocol_text
from .profile import profile_table


def _benchmark_model_label(model: Any) -> str:
    changes = ", ".join(f"{k}={v}" for k, v in model.config_changes.items())
    return f"{model.name}\n({changes})" if changes else model.name


def benchmark_table(report: Any) -> Table:
    """The seed's slide-19 table: PSNR / SSIM per tile setting, best per column in bold."""
    from pathlib import Path

    table = Table(
        title=f"{report.dataset}: PSNR / SSIM per tile setting ({report.pairs} images)",
        title_justify="left",
    )
    table.add_column("model", style="bold cyan", no_wrap=True)
    table.add_column("weights")
    for label in report.tiles:
        head = "Full" if label == "full" else label
        table.add_column(f"{head}\nPSNR", justify="right")
        table.add_column(f"{head}\nSSIM", justify="right")
        if report.speed:
            table.add_column(f"{head}\ns/img", justify="right")
    best = {
        (label, metric): max(getattr(c, metric) for c in report.cells if c.tiles == label)
        for label in report.tiles
        for metric in ("psnr", "ssim")
    }

    def value(cell: Any, metric: str, text: str) -> str:
        return (
            f"[bold green]{text}[/]" if getattr(cell, metric) == best[cell.tiles, metric] else text
        )

    for model in report.models:
        row = [_benchmark_model_label(model), escape(Path(model.weights).name)]
        for label in report.tiles:
            cell = report.cell(model.name, label)
            row += [
                value(cell, "psnr", f"{cell.psnr:.3f}"),
                value(cell, "ssim", f"{cell.ssim:.4f}"),
            ]
            if report.speed:
                row.append(f"{cell.seconds_per_image:.2f}" if cell.seconds_per_image else "-")
        table.add_row(*row)

    lines = [f"{protocol_text(report.protocol)}; bold: best per column"]
    failures = sum(c.ecc_failures for c in report.cells)
    skipped = sum(c.skipped for c in report.cells)
    if failures or skipped:
        lines.append(f"[yellow]{failures} ECC failures, {skipped} images skipped in all[/]")
    if report.speed:
        timed = max((c.timed_images for c in report.cells), default=0)
        lines.append(
            f"s/img: median of read -> tiles -> model -> blend over {timed} images, "
            f"{report.precision}, no scoring running"
        )
    lines.append(
        escape(
            f"{report.reused} of {len(report.cells)} results from the cache ({report.cache_dir})"
        )
    )
    table.caption = "\n".join(lines)
    return table


def benchmark_tables(report: Any) -> Any:
    """`deblur benchmark`'s output: the results table, then the complexity table (slide 20)."""
    from dataclasses import replace

    from rich.console import Group

    complexity = [replace(m.complexity, model=_benchmark_model_label(m)) for m in report.models]
    return Group(benchmark_table(report), "", profile_table(complexity))
