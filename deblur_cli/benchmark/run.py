"""`run_benchmark`: every model x tile setting scored on one dataset (reusing cached cells),
then, per model, optional speed timing and its complexity. Steps, in order: plan (check
everything before any work), then per model: hash weights, score cells, time, profile."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..datasets import Dataset
from ..errors import BenchmarkError
from ..evaluation import EvalProgress, Protocol, default_protocol, run_evaluation
from ..inference import (
    ReadyModel,
    Restorer,
    default_weights,
    load_for_inference,
    resolve_device,
    resolve_tiles,
)
from ..models import ModelSpec, get_spec
from ..profiling import ProfileOptions
from ..weights import resolve
from .cache import (
    cache_root,
    cell_from_entry,
    cell_key,
    dataset_hash,
    entry_from_run,
    read_entry,
    weights_sha256,
    write_entry,
)
from .complexity import profile_checkpoint, published_changes
from .options import BenchmarkOptions, TileSetting
from .report import SCHEMA, BenchmarkCell, BenchmarkEvent, BenchmarkModel, BenchmarkReport
from .speed import time_restores

DownloadProgress = Callable[[str, int, int | None], None]


def run_benchmark(
    dataset: Dataset,
    models: Sequence[str],
    options: BenchmarkOptions = BenchmarkOptions(),
    *,
    progress: Callable[[BenchmarkEvent], None] | None = None,
    download_progress: DownloadProgress | None = None,
    cache: Path | None = None,
) -> BenchmarkReport:
    """Score every model x tile setting on `dataset` (reusing cached cells), then profile
    each model. Each model's weights come from `options.weights` or its default registry
    weights (`inference.default_weights`); a model is loaded only when one of its cells is
    not cached or `speed` is on.

    Raises:
        BenchmarkError: bad options, a tile setting that is not a multiple of a model's size
            multiple. WeightsError / DatasetError from loading and scoring.
    """
    plan = _plan(dataset, models, options, progress, download_progress, cache)
    bench_models: list[BenchmarkModel] = []
    cells: list[BenchmarkCell] = []
    scored = 0
    for spec in plan.specs:
        model, model_cells, model_scored = _benchmark_model(plan, spec)
        bench_models.append(model)
        cells += model_cells
        scored += model_scored
    return BenchmarkReport(
        schema=SCHEMA,
        dataset=plan.dataset.name,
        source=str(plan.dataset.source),
        pairs=len(plan.dataset.pairs),
        limit=options.limit,
        dataset_hash=plan.data_hash,
        protocol=plan.protocol.as_dict(),
        tiles=tuple(s.label for s in options.tiles),
        precision=options.precision,
        speed=options.speed,
        models=tuple(bench_models),
        cells=tuple(cells),
        cache_dir=str(plan.root),
        scored=scored,
        reused=len(cells) - scored,
    )


@dataclass(frozen=True)
class _Plan:
    """Everything the per-model steps share, resolved and checked once."""

    dataset: Dataset
    protocol: Protocol
    specs: tuple[ModelSpec, ...]
    device: torch.device
    root: Path
    data_hash: str
    options: BenchmarkOptions
    progress: Callable[[BenchmarkEvent], None] | None
    download_progress: DownloadProgress | None

    def emit(self, event: BenchmarkEvent) -> None:
        if self.progress is not None:
            self.progress(event)


def _plan(
    dataset: Dataset,
    models: Sequence[str],
    options: BenchmarkOptions,
    progress: Callable[[BenchmarkEvent], None] | None,
    download_progress: DownloadProgress | None,
    cache: Path | None,
) -> _Plan:
    if options.limit is not None:
        dataset = replace(dataset, pairs=dataset.pairs[: options.limit])
    if not dataset.pairs:
        raise BenchmarkError(f"{dataset.source}: no image pairs to score")
    protocol = default_protocol(
        dataset.name, align=options.align, ssim=options.ssim, ecc_iters=options.ecc_iters
    )  # InvalidArgumentError: ECC alignment with another SSIM than realblur's
    specs = tuple(get_spec(name) for name in models)
    for spec in specs:
        _check_model(spec, options)
    return _Plan(
        dataset=dataset,
        protocol=protocol,
        specs=specs,
        device=resolve_device(options.device),
        root=cache or cache_root(),
        data_hash=dataset_hash(dataset, protocol, options.limit),
        options=options,
        progress=progress,
        download_progress=download_progress,
    )


def _check_model(spec: ModelSpec, options: BenchmarkOptions) -> None:
    for setting in options.tiles:
        if setting.tile % spec.size_multiple:
            raise BenchmarkError(
                f"tile setting {setting.label}: {setting.tile} is not a multiple of "
                f"{spec.name}'s size multiple {spec.size_multiple}"
            )
    if options.precision not in spec.precisions:
        raise BenchmarkError(f"{spec.name} does not support {options.precision}")
    if options.profile_size % spec.size_multiple:
        raise BenchmarkError(
            f"profile size {options.profile_size} is not a multiple of {spec.name}'s size "
            f"multiple {spec.size_multiple}"
        )


class _Network:
    """A model's network, loaded on first use only (cached cells need none)."""

    def __init__(self, plan: _Plan, spec: ModelSpec, weights: str) -> None:
        self._plan, self._spec, self._weights = plan, spec, weights
        self.ready: ReadyModel | None = None

    def get(self) -> ReadyModel:
        if self.ready is None:
            self._plan.emit(BenchmarkEvent("loading", self._spec.name))
            self.ready = load_for_inference(
                self._spec.name, self._weights, progress=self._plan.download_progress
            )
        return self.ready


def _benchmark_model(
    plan: _Plan, spec: ModelSpec
) -> tuple[BenchmarkModel, list[BenchmarkCell], int]:
    """One model: its cells (cached or scored), their speed on request, its complexity.
    Returns the model, its cells and how many of them were scored in this call."""
    weights = plan.options.weights.get(spec.name) or default_weights(spec.name).name
    plan.emit(BenchmarkEvent("hashing", spec.name))
    path = resolve(weights, progress=plan.download_progress).path
    sha = weights_sha256(path, plan.root)
    network = _Network(plan, spec, weights)
    cells: list[BenchmarkCell] = []
    cached_config: dict[str, Any] | None = None
    for setting in plan.options.tiles:
        cell, entry_config = _cell(plan, spec, setting, weights, sha, network)
        cells.append(cell)
        cached_config = cached_config or entry_config
    if plan.options.speed:
        cells = _time_cells(plan, spec, cells, network.get())
    config = dict(network.ready.config) if network.ready is not None else dict(cached_config or {})
    plan.emit(BenchmarkEvent("profiling", spec.name))
    model = BenchmarkModel(
        name=spec.name,
        weights=weights,
        weights_path=str(path.resolve()),
        weights_sha256=sha,
        config=config,
        config_changes=published_changes(spec.name, config),
        complexity=profile_checkpoint(spec.name, config, _profile_options(plan.options)),
    )
    return model, cells, sum(not c.cached for c in cells)


def _cell(
    plan: _Plan, spec: ModelSpec, setting: TileSetting, weights: str, sha: str, network: _Network
) -> tuple[BenchmarkCell, dict[str, Any] | None]:
    """One model x tile setting from the cache, or scored now (and cached). Also returns the
    checkpoint config a cached entry recorded (None when scored: the loaded network has it)."""
    options = plan.options
    key = cell_key(spec.name, sha, setting, options.precision, plan.data_hash)
    entry_path = plan.root / f"{key}.json"
    entry = None if options.rescore else read_entry(entry_path, key)
    if entry is not None:
        plan.emit(BenchmarkEvent("cached", spec.name, setting.label))
        return cell_from_entry(entry, setting, spec.name, True, entry_path), entry.get("config")
    ready = network.get()
    tiles = resolve_tiles(spec, plan.device, tile=setting.tile, overlap=setting.overlap)

    def on_image(event: EvalProgress) -> None:
        done, total, psnr = event.done, event.total, event.mean_psnr
        plan.emit(BenchmarkEvent("scoring", spec.name, setting.label, done, total, psnr))

    plan.emit(BenchmarkEvent("scoring", spec.name, setting.label, 0, len(plan.dataset.pairs)))
    run = run_evaluation(
        plan.dataset, model=ready, tiles=tiles, device=options.device,
        precision=options.precision, protocol=plan.protocol, workers=options.workers,
        progress=on_image,
    )  # fmt: skip
    key_fields = {
        "model": spec.name, "weights": weights, "weights_sha256": sha,
        "tile": setting.tile, "overlap": setting.overlap, "precision": options.precision,
        "dataset": plan.dataset.name, "dataset_hash": plan.data_hash, "limit": options.limit,
    }  # fmt: skip
    entry = entry_from_run(key, key_fields, run, ready.config)
    write_entry(entry_path, entry)
    return cell_from_entry(entry, setting, spec.name, False, entry_path), None


def _time_cells(
    plan: _Plan, spec: ModelSpec, cells: list[BenchmarkCell], ready: ReadyModel
) -> list[BenchmarkCell]:
    """`cells` with end-to-end seconds per image, each at its own tile setting."""
    timed = []
    for cell, setting in zip(cells, plan.options.tiles):
        plan.emit(BenchmarkEvent("timing", spec.name, setting.label))
        restorer = Restorer(
            ready.model, ready.spec, device=plan.options.device,
            precision=plan.options.precision,
            tiles=resolve_tiles(spec, plan.device, tile=setting.tile, overlap=setting.overlap),
        )  # fmt: skip
        median, n = time_restores(restorer, plan.dataset)
        timed.append(replace(cell, seconds_per_image=median, timed_images=n))
    return timed


def _profile_options(options: BenchmarkOptions) -> ProfileOptions:
    return ProfileOptions(
        size=options.profile_size, device=options.device, precision=options.precision,
        timing=options.speed, iters=options.latency_iters, warmup=options.latency_warmup,
        time_budget=options.latency_budget,
    )  # fmt: skip
