"""Small formatting pieces shared by several commands' tables."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table


def protocol_text(protocol: dict[str, Any]) -> str:
    """One line naming an evaluation protocol (protocols §1.1 / §1.3), for tables and notes."""
    if protocol.get("align") == "ecc":
        how = f"ECC-aligned ({protocol.get('ecc_iters')} iterations), masked PSNR/SSIM {protocol.get('ssim')}"
    else:
        how = f"unaligned PSNR, SSIM {protocol.get('ssim')}"
    return how + ("" if protocol.get("quantize", True) else ", float predictions (not quantised)")


def mib(size: int | None) -> str:
    return f"{size / 2**20:,.1f} MiB" if size is not None else "-"


def fields_table(title: str, rows: list[tuple[str, str]]) -> Table:
    """A two-column label/value table (values escaped: they hold paths and names)."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, escape(value))
    return table
