"""Rich renderables for the reports the core returns (the only module that builds tables)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text


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
    lines.append(f"{env.device_name} ({env.device}), torch {env.torch}, {env.threads} threads{compiled}")
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


# --- deblur evaluate --------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def evaluation_table(run: Any) -> Table:
    from rich.markup import escape

    p = run.protocol
    if p["align"] == "ecc":
        protocol = f"ECC ({p['ecc_iters']} iterations), masked, SSIM {p['ssim']}"
    else:
        protocol = f"unaligned, SSIM {p['ssim']}"
    if not p["quantize"]:
        protocol += ", float predictions (not quantised)"
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


def _benchmark_model_label(model: Any) -> str:
    changes = ", ".join(f"{k}={v}" for k, v in model.config_changes.items())
    return f"{model.name}\n({changes})" if changes else model.name


def _protocol_text(protocol: dict[str, Any]) -> str:
    if protocol.get("align") == "ecc":
        how = f"ECC-aligned ({protocol.get('ecc_iters')} iterations), masked PSNR/SSIM (§1.1)"
    else:
        how = f"unaligned PSNR, {protocol.get('ssim')} SSIM (§1.3)"
    return how + ("" if protocol.get("quantize", True) else ", unquantised predictions")


def benchmark_table(report: Any) -> Table:
    """The seed's slide-19 table: PSNR / SSIM per tile setting, best per column in bold."""
    from pathlib import Path

    from rich.markup import escape

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
        return f"[bold green]{text}[/]" if getattr(cell, metric) == best[cell.tiles, metric] else text

    for model in report.models:
        row = [_benchmark_model_label(model), escape(Path(model.weights).name)]
        for label in report.tiles:
            cell = report.cell(model.name, label)
            row += [value(cell, "psnr", f"{cell.psnr:.3f}"), value(cell, "ssim", f"{cell.ssim:.4f}")]
            if report.speed:
                row.append(f"{cell.seconds_per_image:.2f}" if cell.seconds_per_image else "-")
        table.add_row(*row)

    lines = [f"{_protocol_text(report.protocol)}; bold: best per column"]
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
        escape(f"{report.reused} of {len(report.cells)} results from the cache ({report.cache_dir})")
    )
    table.caption = "\n".join(lines)
    return table


def benchmark_tables(report: Any) -> Any:
    """`deblur benchmark`'s output: the results table, then the complexity table (slide 20)."""
    from dataclasses import replace

    from rich.console import Group

    complexity = [replace(m.complexity, model=_benchmark_model_label(m)) for m in report.models]
    return Group(benchmark_table(report), "", profile_table(complexity))
