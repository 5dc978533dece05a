"""Rich renderables for the reports the core returns (the only module that builds tables)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _short_paper(paper: str) -> str:
    authors, _, rest = paper.partition(",")
    venue = rest.rsplit(",", 1)[-1].strip() if rest else ""
    return f"{authors} ({venue})" if venue else authors


def models_table(infos: list[Any]) -> Table:
    table = Table(title="Registered models", title_justify="left")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("paper")
    table.add_column("params", justify="right")
    table.add_column("size multiple", justify="right")
    table.add_column("default tile", justify="right")
    table.add_column("weights")
    for info in infos:
        table.add_row(
            info.name,
            _short_paper(info.paper),
            f"{info.params:,}",
            str(info.size_multiple),
            f"{info.default_tile}/{info.default_overlap}",
            "\n".join(info.weights) if info.weights else "-",
        )
    table.caption = "params: inference config (auxiliary heads off where optional)"
    return table


def _g(macs: int) -> str:
    return f"{macs / 1e9:.2f}"


def profile_table(reports: Any) -> Table:
    reports = reports if isinstance(reports, list) else [reports]
    first = reports[0]
    env = first.environment
    timed = any(r.latency_ms is not None for r in reports)
    table = Table(
        title=f"Complexity at {first.size}x{first.size}, batch {first.batch}",
        title_justify="left",
    )
    table.add_column("model", style="bold cyan", no_wrap=True)
    table.add_column("params\n(inference)", justify="right")
    table.add_column("params\n(+aux heads)", justify="right")
    table.add_column("params\n(used in eval)", justify="right")
    table.add_column("GMACs\ntorchinfo", justify="right")
    table.add_column("GMACs\ncomplete", justify="right")
    if timed:
        table.add_column(f"latency ms\nmedian [p10-p90]\n{first.precision}", justify="right")
        table.add_column("peak\nMiB", justify="right")
    for r in reports:
        row = [
            r.model,
            f"{r.params:,}",
            f"{r.params_with_aux:,}",
            f"{r.params_used:,}",
            _g(r.macs_torchinfo),
            _g(r.macs_full),
        ]
        if timed:
            lat = r.latency_ms
            row.append(f"{lat.median:.2f} [{lat.p10:.2f}-{lat.p90:.2f}]" if lat else "-")
            row.append(f"{r.peak_memory_mb:.0f}" if r.peak_memory_mb is not None else "-")
        table.add_row(*row)
    compiled = ", torch.compile" if first.compiled else ""
    table.caption = (
        "torchinfo: module convolutions only (as published). complete: + functional DWT/IDWT "
        "convs, FFTs (5N log2 N flops/2), elementwise and attention products.\n"
        f"{env.device_name} ({env.device}), torch {env.torch}, {env.threads} threads{compiled}"
    )
    return table
