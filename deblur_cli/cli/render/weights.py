"""`deblur weights`: list, download, verify, import, convert and remove reports."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from .common import fields_table, mib


def _file_size(path: Any) -> int | None:
    try:
        return path.stat().st_size if path is not None else None
    except OSError:
        return None


def _short_hash(sha256: str | None) -> str:
    return f"{sha256[:12]}…" if sha256 else "-"


def _config_text(config: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in dict(config).items()) or "defaults"


def _presence(status: Any) -> str:
    if status.path is None:
        return "no"
    return "bundled" if status.bundled else "yes"  # shipped in the package, not in the cache


def weights_table(listing: Any) -> Table:

    table = Table(title="Weights", title_justify="left")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("model", no_wrap=True)
    table.add_column("dataset")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("cached?")
    table.add_column("verified?")
    for status in listing.weights:
        entry = status.entry
        table.add_row(
            entry.name,
            entry.model,
            escape(entry.dataset),
            mib(_file_size(status.path)),
            _presence(status),
            status.verified_by or "-",
        )
    for record in listing.imported:
        size = _file_size(listing.cache_dir / record.file)
        table.add_row(
            record.name,
            record.model,
            "(imported)",
            mib(size),
            "yes" if size is not None else "no",
            record.verified_by,
        )
    table.caption = escape(
        f"registry: {listing.registry}\ncache: {listing.cache_dir}\n"
        "verified: sha256 = matches the registry's hash; structure = strict key/shape match "
        "(the registry has no hash)"
    )
    return table


def download_table(report: Any) -> Table:

    table = Table(title="Downloaded weights", title_justify="left")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("file")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("sha256", no_wrap=True)
    table.add_column("verified by")
    table.add_column("transfer")
    for r in report.results:
        if r.from_cache:
            transfer = "cached"
        elif r.resumed_from:
            transfer = f"resumed at {mib(r.resumed_from)}"
        else:
            transfer = "downloaded"
        table.add_row(
            r.name,
            escape(str(r.path)),
            mib(r.size),
            _short_hash(r.sha256),
            r.verified_by,
            transfer,
        )
    if report.errors:
        table.caption = f"{len(report.errors)} failed (see the errors above)"
    return table


def verify_table(report: Any) -> Table:

    table = Table(title="Verified weights", title_justify="left")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("ok")
    table.add_column("method")
    table.add_column("sha256", no_wrap=True)
    table.add_column("detail")
    for r in report.results:
        table.add_row(
            r.name,
            "[green]ok[/]" if r.ok else "[red]FAILED[/]",
            r.method,
            _short_hash(r.observed_sha256),
            escape(r.message),
        )
    if not report.results:
        table.caption = "nothing cached"
    return table


def import_summary(result: Any) -> Table:
    return fields_table(
        f"Imported {result.name}",
        [
            ("model", f"{result.model} ({_config_text(result.config)})"),
            ("file", str(result.path)),
            ("size", mib(result.size)),
            ("sha256", result.sha256),
            ("verified by", result.verified_by),
        ],
    )


def convert_summary(result: Any) -> Table:
    dropped = len(result.dropped_keys)
    return fields_table(
        "Converted to safetensors",
        [
            ("source", str(result.source)),
            ("output", str(result.output)),
            ("model", f"{result.model} ({_config_text(result.config)})"),
            ("tensors", str(result.tensors)),
            ("size", mib(result.bytes)),
            ("dropped", f"{dropped} training-only aux-head keys" if dropped else "nothing"),
        ],
    )


def remove_summary(result: Any) -> Table:
    rows = [("removed", str(path)) for path in result.removed] or [("removed", "nothing cached")]
    return fields_table(f"Removed {result.name}", [*rows, ("freed", mib(result.freed_bytes))])
