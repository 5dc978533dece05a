"""The benchmark's score cache: one JSON file per cell under `<home>/benchmarks/<key>.json`,
keyed by (model, weights sha256, tile setting, precision, dataset list + protocol), and the
remembered sha256 of each checkpoint so a large file is hashed once."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..datasets import Dataset
from ..errors import BenchmarkError
from ..evaluation import EvaluationReport, Protocol
from ..files import write_json
from ..weights import cache_dir, sha256_file
from .options import TileSetting
from .report import BenchmarkCell

CACHE_VERSION = 1  # bump when a cached entry's meaning changes: old entries become misses
HASHES_NAME = "weights-sha256.json"


def cache_root() -> Path:
    """`<home>/benchmarks`, beside the weights cache (`$DEBLUR_HOME` or the platform dir)."""
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
    root = root or cache_root()
    index_path = root / HASHES_NAME
    path = path.resolve()
    stat = path.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    index = _read_hash_index(index_path)
    known = index.get(str(path))
    if isinstance(known, dict) and all(known.get(k) == v for k, v in stamp.items()):
        return str(known["sha256"])
    digest = sha256_file(path)
    index[str(path)] = {**stamp, "sha256": digest}
    write_entry(index_path, index)
    return digest


def _read_hash_index(index_path: Path) -> dict[str, Any]:
    # The index only saves time: absent, damaged or not UTF-8, it is rebuilt from the files.
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return {}
    return index if isinstance(index, dict) else {}


def write_entry(path: Path, obj: Any) -> None:
    write_json(path, obj, error=BenchmarkError, indent=1)


def read_entry(path: Path, key: str) -> dict[str, Any] | None:
    """A cached cell, or None when absent, damaged or written for another key or version (a
    miss: the cell is scored again and the file replaced)."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("version") != CACHE_VERSION:
        return None
    if entry.get("key") != key or not {"psnr", "ssim", "count"} <= entry.keys():
        return None
    return entry


def entry_from_run(
    key: str, key_fields: Mapping[str, Any], run: EvaluationReport, config: Mapping[str, Any]
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


def cell_from_entry(
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
