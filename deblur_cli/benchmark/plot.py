"""The accuracy-vs-cost figure of `deblur benchmark --plot`: PSNR against torchinfo GMACs, marker
area proportional to parameters, model-only latency in the labels (as the MLWNet paper's and the
seed's figures). matplotlib is an optional extra (`deblur-cli[plot]`), drawn on the Agg canvas
without pyplot, so no GUI backend or global figure state is touched."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PlotError
from ..files import atomic_write_bytes
from .report import BenchmarkReport

INSTALL_HINT = "pip install 'deblur-cli[plot]'"
MAX_MARKER_AREA = 1600.0  # points^2 for the largest model


def require_matplotlib() -> None:
    """Raise `PlotError` with the install command when matplotlib is not importable."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotError(f"--plot needs matplotlib; install it with: {INSTALL_HINT}") from None


@dataclass(frozen=True)
class PlotPoint:
    model: str
    tiles: str
    psnr: float
    gmacs: float
    params: int
    latency_ms: float | None


def plot_points(report: BenchmarkReport) -> list[PlotPoint]:
    """One point per model at its best tile setting (highest PSNR, as the seed's plot.py)."""
    points = []
    for model in report.models:
        best = report.best_cell(model.name)
        latency = model.complexity.latency_ms
        points.append(
            PlotPoint(
                model=model.name,
                tiles=best.tiles,
                psnr=best.psnr,
                gmacs=model.complexity.macs_torchinfo / 1e9,
                params=model.complexity.params,
                latency_ms=latency.median if latency is not None else None,
            )
        )
    return points


def plot_benchmark(report: BenchmarkReport, path: Path | str) -> Path:
    """Draw the figure for a `BenchmarkReport` and write it atomically; the format follows the
    suffix (png, pdf, svg, ...)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    fig = Figure(figsize=(7.5, 5.0), dpi=150, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    if fmt not in canvas.get_supported_filetypes():
        known = ", ".join(sorted(canvas.get_supported_filetypes()))
        raise PlotError(f"{path}: unsupported plot format {fmt or '(none)'!r}; use one of {known}")

    ax = fig.add_subplot()
    points = plot_points(report)
    _draw_points(ax, points)
    _pad_limits(ax, points)
    _label_axes(ax, report, points)

    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, buffer.getvalue(), PlotError)


def _draw_points(ax: Any, points: list[PlotPoint]) -> None:
    largest = max(p.params for p in points) or 1
    for i, p in enumerate(points):
        color = f"C{i % 10}"
        area = MAX_MARKER_AREA * p.params / largest
        ax.scatter(
            p.gmacs, p.psnr, s=area, color=color, alpha=0.55, edgecolors=color, linewidths=1.2,
            zorder=2,
        )  # fmt: skip
        label = f"{p.model} ({p.latency_ms:.1f} ms)" if p.latency_ms is not None else p.model
        tiles = "Full" if p.tiles == "full" else p.tiles
        ax.annotate(
            f"{label}\n{tiles}, {p.params / 1e6:.1f}M params", (p.gmacs, p.psnr),
            xytext=(0, math.sqrt(area / math.pi) + 3), textcoords="offset points", ha="center",
            va="bottom", fontsize=8,
        )  # fmt: skip


def _label_axes(ax: Any, report: BenchmarkReport, points: list[PlotPoint]) -> None:
    size = report.models[0].complexity.size
    ax.set_xlabel(f"GMACs at {size}x{size} (torchinfo: module ops only)")
    ax.set_ylabel("PSNR (dB), best tile setting per model")
    lat = (
        " latency: model-only median at the same size;" if any(p.latency_ms for p in points) else ""
    )
    ax.set_title(
        f"{report.dataset}, {report.pairs} images: PSNR vs MACs\n"
        f"marker area ∝ parameters;{lat} best setting chosen on the test set",
        fontsize=9,
    )
    ax.grid(True, alpha=0.3, zorder=0)


def _pad_limits(ax: Any, points: list[PlotPoint]) -> None:
    # Leave room for the labels above the markers and for the largest marker at the edges.
    xs = [p.gmacs for p in points]
    ys = [p.psnr for p in points if math.isfinite(p.psnr)] or [0.0]
    x_span = (max(xs) - min(xs)) or max(max(xs), 1.0) * 0.5
    y_span = (max(ys) - min(ys)) or 0.5
    ax.set_xlim(max(0.0, min(xs) - 0.25 * x_span), max(xs) + 0.25 * x_span)
    ax.set_ylim(min(ys) - 0.3 * y_span, max(ys) + 0.6 * y_span)
