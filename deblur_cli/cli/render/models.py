"""`deblur models`: the registry with each entry's weights."""

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
