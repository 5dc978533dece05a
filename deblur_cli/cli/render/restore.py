"""`deblur restore`: the batch summary."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def restore_summary(results: list[Any], device: str, precision: str) -> Table:
    done = [r for r in results if r.status == "ok"]
    skipped = sum(r.status == "skipped" for r in results)
    failed = sum(r.status == "failed" for r in results)
    seconds = sum(r.seconds for r in done)
    megapixels = sum(r.megapixels for r in done)
    table = Table(title="Restore summary", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("images restored", str(len(done)))
    if skipped:
        table.add_row("skipped (output exists)", str(skipped))
    if failed:
        table.add_row("[red]failed[/]", f"[red]{failed}[/]")
    if done:
        table.add_row("seconds per image", f"{seconds / len(done):.2f}")
        table.add_row("megapixels per second", f"{megapixels / seconds:.3f}" if seconds else "-")
    table.add_row("device", device)
    table.add_row("precision", precision)
    return table


# --- deblur weights ---------------------------------------------------------------------------
