"""`deblur profile`: one row per model as it finishes, and the caption that explains the columns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text


def _g(macs: int) -> str:
    return f"{macs / 1e9:.2f}"


def _profile_columns(precision: str, timed: bool) -> list[tuple[str, int]]:
    """(header, width) of each column; the widths are fixed so rows streamed one at a time
    line up under the header."""
    columns = [
        ("model", 14),
        ("params\n(inference)", 11),
        ("params\n(+aux heads)", 12),
        ("params\n(used in eval)", 14),
        ("GMACs\ntorchinfo", 9),
        ("GMACs\ncomplete", 9),
    ]
    if timed:
        # escaped: rich would take "[p10-p90]" for a style tag and drop it
        latency = f"latency ms\nmedian {escape('[p10-p90]')}\n{precision}"
        columns += [(latency, 28), ("runs", 5), ("peak\nMiB", 6)]
    return columns


def _profile_cells(r: Any, timed: bool) -> list[str]:
    cells = [
        r.model,
        f"{r.params:,}",
        f"{r.params_with_aux:,}",
        f"{r.params_used:,}",
        _g(r.macs_torchinfo),
        _g(r.macs_full),
    ]
    if timed:
        lat = r.latency_ms
        cells.append(f"{lat.median:.2f} [{lat.p10:.2f}-{lat.p90:.2f}]" if lat else "-")
        cells.append(str(lat.runs) if lat else "-")
        cells.append(f"{r.peak_memory_mb:.0f}" if r.peak_memory_mb is not None else "-")
    return cells


def _profile_caption(first: Any, timed: bool) -> str:
    env = first.environment
    lines = [
        "torchinfo: module convolutions only (as published). complete: + functional DWT/IDWT "
        "convs, FFTs (5N log2 N flops/2), elementwise and attention products."
    ]
    if timed:
        limit = f"{first.iters} passes"
        if first.time_budget_s is not None:
            limit += f" or {first.time_budget_s:g} s, whichever came first"
        lines.append(
            "latency: median and, in brackets, the 10th-90th percentile range of the timed "
            f"passes; runs: passes timed after the warm-up (at most {limit})."
        )
    compiled = ", torch.compile" if first.compiled else ""
    if first.engine != "torch":
        compiled += f", forward in {first.engine} (ONNX export)"
    lines.append(
        f"{env.device_name} ({env.device}), torch {env.torch}, {env.threads} threads{compiled}"
    )
    return "\n".join(lines)


def profile_table(reports: Any) -> Table:
    """All reports in one boxed table (`benchmark`'s complexity table, slide 20)."""
    reports = reports if isinstance(reports, list) else [reports]
    first = reports[0]
    timed = any(r.latency_ms is not None for r in reports)
    table = Table(
        title=f"Complexity at {first.size}x{first.size}, batch {first.batch}",
        title_justify="left",
    )
    for i, (header, _width) in enumerate(_profile_columns(first.precision, timed)):
        if i == 0:
            table.add_column(header, style="bold cyan", no_wrap=True)
        else:
            table.add_column(header, justify="right")
    for r in reports:
        table.add_row(*_profile_cells(r, timed))
    table.caption = _profile_caption(first, timed)
    return table


def profile_rows(options: Any, reports: Iterable[Any]) -> Iterator[Any]:
    """`deblur profile`'s table, streamed: the title and header at once, then one row per
    report as it arrives (a model can take minutes), then the caption."""
    from rich import box

    columns = _profile_columns(options.precision, options.timing)

    def part(show_header: bool, title: str | None = None) -> Table:
        table = Table(
            box=box.SIMPLE_HEAD, show_header=show_header, show_edge=False, pad_edge=False,
            title=title, title_justify="left",
        )  # fmt: skip
        for i, (header, width) in enumerate(columns):
            if i == 0:
                table.add_column(header, width=width, style="bold cyan", no_wrap=True)
            else:
                table.add_column(header, width=width, justify="right")
        return table

    yield part(True, f"Complexity at {options.size}x{options.size}, batch {options.batch}")
    first = None
    for report in reports:
        first = first or report
        row = part(False)
        row.add_row(*_profile_cells(report, options.timing))
        yield row
    if first is not None:
        yield Text(_profile_caption(first, options.timing), style="dim")
