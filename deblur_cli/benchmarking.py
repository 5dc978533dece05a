"""`deblur benchmark`'s core: every model x tile setting scored on one dataset (the seed's
slide-19 table, protocols.md §4), each model's complexity (slide 20, §5.3) and, on request,
end-to-end seconds per image. Scores are cached under `$DEBLUR_HOME/benchmarks/<key>.json`,
keyed by (model, weights sha256, tile setting, precision, dataset list + protocol), so a re-run
scores only what changed. Returns dataclasses; never prints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DeblurError
from .files import atomic_write_bytes

if TYPE_CHECKING:
    from .datasets import Dataset
    from .evaluate_run import EvaluationRun
    from .evaluation import Protocol
    from .inference import Restorer
    from .loading import ReadyModel
    from .profiling import ProfileOptions, ProfileReport

SCHEMA = "deblur.benchmark/1"
CACHE_VERSION = 1  # bump when a cached entry's meaning changes: old entries become misses
HASHES_NAME = "weights-sha256.json"
SPEED_IMAGES = 20  # --speed times at most this many images per model x tile setting


class BenchmarkError(DeblurError):
    """Bad benchmark arguments (models, weights map, tile settings, protocol options)."""


# --------------------------------------------------------------------------------------
# Arguments


@dataclass(frozen=True)
class TileSetting:
    """One column group of the slide-19 table: `tile` 0 = whole image ("full")."""

    label: str
    tile: int
    overlap: int


DEFAULT_TILES = "256/128,512/256,full"  # the seed's three settings (protocols.md §4)


def parse_tile_settings(text: str) -> tuple[TileSetting, ...]:
    """`256/128,512/256,full` -> tile settings, in the order given, duplicates refused."""
    settings: list[TileSetting] = []
    for item in (part.strip().lower() for part in text.split(",")):
        if not item:
            continue
        if item in ("full", "0"):
            setting = TileSetting("full", 0, 0)
        else:
            tile_text, slash, overlap_text = item.partition("/")
            try:
                tile = int(tile_text)
                overlap = int(overlap_text) if slash else tile // 2
            except ValueError:
                raise BenchmarkError(
                    f"tile setting {item!r}: expected TILE/OVERLAP (e.g. 256/128) or 'full'"
                ) from None
            if tile < 1 or not 0 <= overlap < tile:
                raise BenchmarkError(f"tile setting {item!r}: need tile > overlap >= 0")
            setting = TileSetting(f"{tile}/{overlap}", tile, overlap)
        if setting in settings:
            raise BenchmarkError(f"tile setting {setting.label} given twice")
        settings.append(setting)
    if not settings:
        raise BenchmarkError("no tile settings given")
    return tuple(settings)


def parse_models(text: str) -> tuple[str, ...]:
    """`ce-mlwnet,mlwnet` -> canonical registry names (unknown names raise)."""
    from .models import get_spec

    names = [get_spec(part).name for part in text.split(",") if part.strip()]
    if not names:
        raise BenchmarkError("no models given")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BenchmarkError(f"model {', '.join(repeated)} given twice")
    return tuple(names)


def parse_weights_map(text: str | None, models: Sequence[str]) -> dict[str, str]:
    """`a=W1,b=W2` (registry names or files) -> {model: weights}; with a single model a bare
    `W` is accepted. Models left out use their default registry weights."""
    if not text:
        return {}
    from .models import get_spec

    mapping: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, eq, weights = item.partition("=")
        if not eq:
            if len(models) != 1:
                raise BenchmarkError(f"--weights {item!r}: use MODEL=WEIGHTS with several models")
            name, weights = models[0], item
        model = get_spec(name.strip()).name
        if model not in models:
            raise BenchmarkError(f"--weights names {model}, which is not in --models")
        if model in mapping:
            raise BenchmarkError(f"--weights gives {model} twice")
        mapping[model] = weights.strip()
    return mapping


@dataclass(frozen=True)
class BenchmarkOptions:
    """How the benchmark runs. `align`/`ssim` None = the dataset's default protocol (§1.6);
    `limit` keeps the first N pairs in dataset order; `rescore` ignores cached results (and
    overwrites them); `speed` adds model-only latency (§5.3) and end-to-end seconds per image."""

    tiles: tuple[TileSetting, ...] = parse_tile_settings(DEFAULT_TILES)
    weights: Mapping[str, str] = dataclasses.field(default_factory=dict)
    limit: int | None = None
    align: bool | None = None
    ssim: str | None = None
    ecc_iters: int = 100  # metrics.DEFAULT_ECC_ITERS, as the official script (§1.1)
    device: str = "auto"
    precision: str = "fp32"
    workers: int | None = None
    speed: bool = False
    latency_iters: int = 100  # §5.3: 100 timed forwards after 20 warm-ups, as the seed
    latency_warmup: int = 20
    profile_size: int = 256
    rescore: bool = False


# --------------------------------------------------------------------------------------
# Report


@dataclass(frozen=True)
class BenchmarkCell:
    """One model x tile setting.

    Attributes:
        seconds_per_image: with `speed`, the median of read -> tiles -> model -> blend over
            the first `timed_images` pairs, timed after one warm-up image with no scoring
            running; None otherwise.
        inference_seconds: model time summed over the images restored when this cell was
            scored (scoring workers ran alongside), from the run that filled the cache.
        cached: read from the cache instead of scored in this call.
    """

    model: str
    tiles: str
    tile: int
    overlap: int
    psnr: float
    ssim: float
    count: int
    ecc_failures: int
    skipped: int
    inference_seconds: float | None
    scored_at: str
    cached: bool
    cache_key: str
    cache_path: str
    seconds_per_image: float | None = None
    timed_images: int = 0


@dataclass(frozen=True)
class BenchmarkModel:
    """A benchmarked network: its weights and complexity. `config_changes` lists the fields
    where the checkpoint's config differs from the registry's published one (the complexity is
    then that of the checkpoint's network)."""

    name: str
    weights: str
    weights_path: str
    weights_sha256: str
    config: dict[str, Any]
    config_changes: dict[str, Any]
    complexity: ProfileReport


@dataclass(frozen=True)
class BenchmarkReport:
    schema: str
    dataset: str
    source: str
    pairs: int
    limit: int | None
    dataset_hash: str
    protocol: dict[str, Any]
    tiles: tuple[str, ...]
    precision: str
    speed: bool
    models: tuple[BenchmarkModel, ...]
    cells: tuple[BenchmarkCell, ...]
    cache_dir: str
    scored: int  # cells scored in this call
    reused: int  # cells read from the cache

    def cell(self, model: str, tiles: str) -> BenchmarkCell:
        for c in self.cells:
            if c.model == model and c.tiles == tiles:
                return c
        raise KeyError((model, tiles))

    def best_cell(self, model: str) -> BenchmarkCell:
        """The model's highest-PSNR setting (the seed's plot.py choice: best of N on the test
        set, protocols.md §4)."""
        return max((c for c in self.cells if c.model == model), key=lambda c: c.psnr)


@dataclass(frozen=True)
class BenchmarkEvent:
    """Progress: `stage` is hashing, loading, cached, scoring (per image, with the running mean
    PSNR), timing or profiling; `tiles` is None for per-model stages."""

    stage: str
    model: str
    tiles: str | None = None
    done: int = 0
    total: int = 0
    psnr: float | None = None


# --------------------------------------------------------------------------------------
# Cache


def cache_root() -> Path:
    """`<home>/benchmarks`, beside the weights cache (`$DEBLUR_HOME` or the platform dir)."""
    from .weights import cache_dir

    return cache_dir().parent / "benchmarks"


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=list)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dataset_hash(dataset: Dataset, protocol: Protocol, limit: int | None) -> str:
    """sha256 of the sorted (pair name, blur path, sharp path) list and the protocol options
    that change the numbers (alignment, SSIM variant, ECC iterations, quantisation, limit)."""
    pairs = sorted((p.name, str(p.blur.resolve()), str(p.sharp.resolve())) for p in dataset.pairs)
    return _digest(
        {
            "dataset": dataset.name,
            "pairs": pairs,
            "align": protocol.align,
            "ssim": protocol.ssim,
            "ecc_iters": protocol.ecc_iters if protocol.align else None,
            "quantize": protocol.quantize,
            "limit": limit,
        }
    )


def cell_key(
    model: str, weights_sha256: str, setting: TileSetting, precision: str, data_hash: str
) -> str:
    """The cache key of one cell. Placement and blend are the `Restorer` defaults (even,
    cosine) and are part of the key so a change of default cannot reuse old numbers; the
    device and tile batch are not (they do not change the restored pixels beyond rounding)."""
    return _digest(
        {
            "version": CACHE_VERSION,
            "model": model,
            "weights_sha256": weights_sha256,
            "tile": setting.tile,
            "overlap": setting.overlap,
            "placement": "even",
            "blend": "cosine",
            "precision": precision,
            "dataset_hash": data_hash,
        }
    )


def weights_sha256(path: Path, root: Path | None = None) -> str:
    """sha256 of a checkpoint, remembered in `<root>/weights-sha256.json` by (absolute path,
    size, mtime) so a large file is hashed once."""
    from .weights import sha256_file

    root = root or cache_root()
    index_path = root / HASHES_NAME
    path = path.resolve()
    stat = path.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if not isinstance(index, dict):
            index = {}
    except (OSError, ValueError):
        index = {}  # absent or damaged: it only saves time, rebuild it
    known = index.get(str(path))
    if isinstance(known, dict) and all(known.get(k) == v for k, v in stamp.items()):
        return str(known["sha256"])
    digest = sha256_file(path)
    index[str(path)] = {**stamp, "sha256": digest}
    _write_json(index_path, index)
    return digest


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode("utf-8"), BenchmarkError)


def _read_entry(path: Path, key: str) -> dict[str, Any] | None:
    """A cached cell, or None when absent, damaged or written for another key or version."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("version") != CACHE_VERSION:
        return None
    if entry.get("key") != key or not {"psnr", "ssim", "count"} <= entry.keys():
        return None
    return entry


def _entry_from_run(
    key: str, key_fields: dict[str, Any], run: EvaluationRun, config: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "version": CACHE_VERSION,
        "key": key,
        **key_fields,
        "config": dict(config),
        "protocol": run.protocol,
        "psnr": run.psnr,
        "ssim": run.ssim,
        "count": run.count,
        "ecc_failures": run.ecc_failures,
        "skipped": [dataclasses.asdict(s) for s in run.skipped],
        "seconds": dataclasses.asdict(run.seconds),
        "device": run.model.device if run.model is not None else None,
        "scored_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "images": [dataclasses.asdict(r) for r in run.images],
    }


def _cell(
    entry: Mapping[str, Any], setting: TileSetting, model: str, cached: bool, path: Path
) -> BenchmarkCell:
    return BenchmarkCell(
        model=model,
        tiles=setting.label,
        tile=setting.tile,
        overlap=setting.overlap,
        psnr=float(entry["psnr"]),
        ssim=float(entry["ssim"]),
        count=int(entry["count"]),
        ecc_failures=int(entry.get("ecc_failures", 0)),
        skipped=len(entry.get("skipped", ())),
        inference_seconds=(entry.get("seconds") or {}).get("inference"),
        scored_at=str(entry.get("scored_at", "")),
        cached=cached,
        cache_key=str(entry["key"]),
        cache_path=str(path),
    )


# --------------------------------------------------------------------------------------
# Complexity and speed


def _published_changes(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    from .models import get_spec

    published = dataclasses.asdict(get_spec(name).config)

    def same(a: Any, b: Any) -> bool:  # JSON turns tuples into lists
        return (list(a) if isinstance(a, (list, tuple)) else a) == (
            list(b) if isinstance(b, (list, tuple)) else b
        )

    return {k: v for k, v in config.items() if k in published and not same(published[k], v)}


def _normalise_config(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    from .models import get_spec

    fields = {f.name: f for f in dataclasses.fields(get_spec(name).config)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k in fields}


def profile_checkpoint(
    name: str, config: Mapping[str, Any], options: ProfileOptions
) -> ProfileReport:
    """`profile_model` for the network a checkpoint holds (its config, e.g. MLWNet-B dim 64)."""
    from .profiling import profile_model

    changes = _published_changes(name, config)
    return profile_model(name, options, _normalise_config(name, config) if changes else None)


def time_restores(
    restorer: Restorer, dataset: Dataset, images: int = SPEED_IMAGES
) -> tuple[float, int]:
    """Median seconds of read -> tiles -> model -> blend over the first `images` pairs, after
    one untimed warm-up image (first-call allocations, cuDNN autotuning)."""
    import numpy as np

    from .datasets import read_rgb

    pairs = dataset.pairs[:images]
    samples: list[float] = []
    for i, pair in enumerate([pairs[0], *pairs]):
        start = time.perf_counter()
        blurry = read_rgb(pair.blur).astype(np.float32) / 255
        restorer.restore(blurry)
        if i:
            samples.append(time.perf_counter() - start)
    return statistics.median(samples), len(samples)


# --------------------------------------------------------------------------------------
# The benchmark


def run_benchmark(
    dataset: Dataset,
    models: Sequence[str],
    options: BenchmarkOptions = BenchmarkOptions(),
    *,
    progress: Callable[[BenchmarkEvent], None] | None = None,
    download_progress: Callable[[str, int, int | None], None] | None = None,
    cache: Path | None = None,
) -> BenchmarkReport:
    """Score every model x tile setting on `dataset` (reusing cached cells), then profile
    each model. Each model's weights come from `options.weights` or its default registry
    weights (`loading.default_weights`); a model is loaded only when one of its cells is not
    cached or `speed` is on.

    Raises:
        BenchmarkError: bad options, a tile setting that is not a multiple of a model's size
            multiple. WeightsError / DatasetError from loading and scoring.
    """
    from .evaluate_run import run_evaluation
    from .evaluation import default_protocol
    from .inference import resolve_device, resolve_tiles
    from .loading import default_weights, load_for_inference
    from .models import get_spec
    from .profiling import PRECISIONS, ProfileOptions
    from .weights import resolve

    def emit(event: BenchmarkEvent) -> None:
        if progress is not None:
            progress(event)

    if options.precision not in PRECISIONS:
        raise BenchmarkError(f"precision must be one of {', '.join(PRECISIONS)}")
    if options.limit is not None:
        if options.limit < 1:
            raise BenchmarkError("limit must be at least 1")
        dataset = replace(dataset, pairs=dataset.pairs[: options.limit])
    if not dataset.pairs:
        raise BenchmarkError(f"{dataset.source}: no image pairs to score")
    try:
        protocol = default_protocol(
            dataset.name, align=options.align, ssim=options.ssim, ecc_iters=options.ecc_iters
        )
    except ValueError as exc:
        raise BenchmarkError(str(exc)) from None
    specs = [get_spec(name) for name in models]
    for spec in specs:
        for setting in options.tiles:
            if setting.tile % spec.size_multiple:
                raise BenchmarkError(
                    f"tile setting {setting.label}: {setting.tile} is not a multiple of "
                    f"{spec.name}'s size multiple {spec.size_multiple}"
                )
        if options.precision not in spec.precisions:
            raise BenchmarkError(f"{spec.name} does not support {options.precision}")
    device = resolve_device(options.device)
    root = cache or cache_root()
    data_hash = dataset_hash(dataset, protocol, options.limit)
    profile_options = ProfileOptions(
        size=options.profile_size, device=options.device, precision=options.precision,
        timing=options.speed, iters=options.latency_iters, warmup=options.latency_warmup,
    )  # fmt: skip

    bench_models: list[BenchmarkModel] = []
    cells: list[BenchmarkCell] = []
    scored = 0
    for spec in specs:
        weights = options.weights.get(spec.name) or default_weights(spec.name).name
        emit(BenchmarkEvent("hashing", spec.name))
        path = resolve(weights, progress=download_progress).path
        sha = weights_sha256(path, root)

        ready: ReadyModel | None = None
        config: dict[str, Any] | None = None
        for setting in options.tiles:
            key = cell_key(spec.name, sha, setting, options.precision, data_hash)
            entry_path = root / f"{key}.json"
            entry = None if options.rescore else _read_entry(entry_path, key)
            if entry is not None:
                emit(BenchmarkEvent("cached", spec.name, setting.label))
                cells.append(_cell(entry, setting, spec.name, True, entry_path))
                config = config or entry.get("config")
                continue
            if ready is None:
                emit(BenchmarkEvent("loading", spec.name))
                ready = load_for_inference(spec.name, weights, progress=download_progress)
                config = dict(ready.config)
            tiles = resolve_tiles(spec, device, tile=setting.tile, overlap=setting.overlap)

            def on_image(event: Any, model: str = spec.name, label: str = setting.label) -> None:
                emit(BenchmarkEvent(
                    "scoring", model, label, event.done, event.total, event.mean_psnr
                ))  # fmt: skip

            emit(BenchmarkEvent("scoring", spec.name, setting.label, 0, len(dataset.pairs)))
            run = run_evaluation(
                dataset, model=ready, tiles=tiles, device=options.device,
                precision=options.precision, protocol=protocol, workers=options.workers,
                progress=on_image,
            )  # fmt: skip
            key_fields = {
                "model": spec.name, "weights": weights, "weights_sha256": sha,
                "tile": setting.tile, "overlap": setting.overlap, "precision": options.precision,
                "dataset": dataset.name, "dataset_hash": data_hash, "limit": options.limit,
            }  # fmt: skip
            entry = _entry_from_run(key, key_fields, run, config)
            _write_json(entry_path, entry)
            cells.append(_cell(entry, setting, spec.name, False, entry_path))
            scored += 1

        if options.speed:
            if ready is None:
                emit(BenchmarkEvent("loading", spec.name))
                ready = load_for_inference(spec.name, weights, progress=download_progress)
                config = dict(ready.config)
            from .inference import Restorer

            mine = [i for i, c in enumerate(cells) if c.model == spec.name]
            for index, setting in zip(mine, options.tiles):
                emit(BenchmarkEvent("timing", spec.name, setting.label))
                restorer = Restorer(
                    ready.model, ready.spec, device=options.device, precision=options.precision,
                    tiles=resolve_tiles(spec, device, tile=setting.tile, overlap=setting.overlap),
                )  # fmt: skip
                median, n = time_restores(restorer, dataset)
                cells[index] = replace(cells[index], seconds_per_image=median, timed_images=n)

        config = dict(config or {})
        emit(BenchmarkEvent("profiling", spec.name))
        complexity = profile_checkpoint(spec.name, config, profile_options)
        bench_models.append(
            BenchmarkModel(
                name=spec.name,
                weights=weights,
                weights_path=str(path.resolve()),
                weights_sha256=sha,
                config=config,
                config_changes=_published_changes(spec.name, config),
                complexity=complexity,
            )
        )
        del ready  # free the network before loading the next one

    return BenchmarkReport(
        schema=SCHEMA,
        dataset=dataset.name,
        source=str(dataset.source),
        pairs=len(dataset.pairs),
        limit=options.limit,
        dataset_hash=data_hash,
        protocol=protocol.as_dict(),
        tiles=tuple(s.label for s in options.tiles),
        precision=options.precision,
        speed=options.speed,
        models=tuple(bench_models),
        cells=tuple(cells),
        cache_dir=str(root),
        scored=scored,
        reused=len(cells) - scored,
    )


def save_report(report: BenchmarkReport, path: Path | str) -> Path:
    """Write the report as pretty JSON (the `--json` document), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dataclasses.asdict(report), indent=2) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"), BenchmarkError)
