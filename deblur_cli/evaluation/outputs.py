"""What an evaluation writes besides its results file (datasets.md §5): predictions as 8-bit
PNGs under their official names, the per-image `metrics.csv`, the JSON report; never inside
the dataset tree."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..datasets import Dataset, Pair
from ..errors import DatasetError, ImageError, ResultsFileError
from ..files import atomic_write_bytes, write_image, write_json
from .report import EvaluationReport, ImageRecord

CSV_NAME = "metrics.csv"


def check_save_dir(save_dir: Path | str, dataset: Dataset) -> Path:
    """`save_dir`, refused when it lies inside the dataset tree (§5: never write next to the
    data, unlike the seed's `scene/pred/` folders)."""
    target = Path(save_dir).resolve()
    root = dataset.root.resolve()
    zones = {root} if root.parent != root else set()  # a tree at "/" would forbid everything
    for pair in dataset.pairs:
        zones.add(pair.sharp.parent.resolve())
        zones.add(pair.blur.parent.resolve())
    for zone in sorted(zones):
        if target == zone or zone in target.parents:
            raise DatasetError(f"{save_dir}: inside the dataset tree {zone}; choose another folder")
    return target


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 (or float in [0, 1], rounded as in §1.1) image as 8-bit PNG,
    atomically, creating its folder (GoPro names hold a sequence folder)."""
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / np.float32(255)  # quantises back to the same bytes
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"{path}: cannot create its folder ({exc.strerror or exc})") from None
    return write_image(path, image)


def save_prediction(save_dir: Path, pair: Pair, image: np.ndarray) -> Path:
    """Write one prediction under its official name (`scene230_7.png`, ...)."""
    return write_png(save_dir / pair.name, image)


def _csv(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ok" if value else "failed"
    return f"{value:.9g}" if isinstance(value, float) else str(value)


def write_metrics_csv(path: Path | str, records: Iterable[ImageRecord]) -> Path:
    """Per-image CSV (name, H, W, PSNR, SSIM, ECC status, gain, correlation, warp), atomically."""
    path = Path(path)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    columns = ["name", "height", "width", "psnr", "ssim", "ecc_ok", "gain", "ecc_cc"]
    writer.writerow([*columns, "valid_fraction", "warp"])
    for r in records:
        warp = " ".join(f"{v:.9g}" for v in r.warp) if r.warp is not None else ""
        writer.writerow(
            [r.name, r.height, r.width, f"{r.psnr:.6f}", f"{r.ssim:.6f}", _csv(r.ecc_ok)]
            + [_csv(r.gain), _csv(r.ecc_cc), f"{r.valid_fraction:.6f}", warp]
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsFileError(
            f"{path}: cannot create its folder ({exc.strerror or exc})"
        ) from None
    return atomic_write_bytes(path, text.getvalue().encode("utf-8"), ResultsFileError)


def save_report(report: EvaluationReport, path: Path | str) -> Path:
    """Write the report as pretty JSON (the `--json` document), atomically."""
    return write_json(path, report.as_dict(), error=ResultsFileError)
