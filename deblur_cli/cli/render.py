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


def _mib(size: int | None) -> str:
    return f"{size / 2**20:,.1f} MiB" if size is not None else "-"


def _file_size(path: Any) -> int | None:
    try:
        return path.stat().st_size if path is not None else None
    except OSError:
        return None


def _short_hash(sha256: str | None) -> str:
    return f"{sha256[:12]}…" if sha256 else "-"


def _config_text(config: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in dict(config).items()) or "defaults"


def _fields_table(title: str, rows: list[tuple[str, str]]) -> Table:
    from rich.markup import escape

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, escape(value))
    return table


def weights_table(listing: Any) -> Table:
    from rich.markup import escape

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
            _mib(_file_size(status.path)),
            "yes" if status.path is not None else "no",
            status.verified_by or "-",
        )
    for record in listing.imported:
        size = _file_size(listing.cache_dir / record.file)
        table.add_row(
            record.name,
            record.model,
            "(imported)",
            _mib(size),
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
    from rich.markup import escape

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
            transfer = f"resumed at {_mib(r.resumed_from)}"
        else:
            transfer = "downloaded"
        table.add_row(
            r.name,
            escape(str(r.path)),
            _mib(r.size),
            _short_hash(r.sha256),
            r.verified_by,
            transfer,
        )
    if report.errors:
        table.caption = f"{len(report.errors)} failed (see the errors above)"
    return table


def verify_table(report: Any) -> Table:
    from rich.markup import escape

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
    return _fields_table(
        f"Imported {result.name}",
        [
            ("model", f"{result.model} ({_config_text(result.config)})"),
            ("file", str(result.path)),
            ("size", _mib(result.size)),
            ("sha256", result.sha256),
            ("verified by", result.verified_by),
        ],
    )


def convert_summary(result: Any) -> Table:
    dropped = len(result.dropped_keys)
    return _fields_table(
        "Converted to safetensors",
        [
            ("source", str(result.source)),
            ("output", str(result.output)),
            ("model", f"{result.model} ({_config_text(result.config)})"),
            ("tensors", str(result.tensors)),
            ("size", _mib(result.bytes)),
            ("dropped", f"{dropped} training-only aux-head keys" if dropped else "nothing"),
        ],
    )


def remove_summary(result: Any) -> Table:
    rows = [("removed", str(path)) for path in result.removed] or [("removed", "nothing cached")]
    return _fields_table(f"Removed {result.name}", [*rows, ("freed", _mib(result.freed_bytes))])
