"""RealBlur-J/-R (datasets.md §1): the official root with its per-split list files, and the
seed's `preprocess.py` JSON lists (§1.2)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DatasetError
from .lists import load_list, read_list_text
from .names import (
    REALBLUR_LIST_STEM,
    folder_prediction_name,
    gopro_prediction_name,
    list_kind,
    realblur_prediction_name,
    realblur_variant,
)
from .pairs import Dataset, Pair, Skipped, canonical_dataset_name, check_split
from .validation import Origin, common_root, finish_dataset, pair_folders

JsonRow = tuple[int, Path, Path, tuple[int, int] | None]
"""(entry number, blur path, ground-truth path, (H, W) the list states or None)."""


def realblur_lists(root: Path) -> dict[str, list[Path]]:
    """RealBlur variant -> its `RealBlur_{J,R}_<split>_list.txt` files directly under `root`."""
    return {
        name: sorted(root.glob(f"{stem}_*_list.txt"))
        for name, stem in REALBLUR_LIST_STEM.items()
        if any(root.glob(f"{stem}_*_list.txt"))
    }


def load_realblur(
    root: Path | str,
    dataset: str = "realblur-j",
    split: str = "test",
    *,
    list_path: Path | str | None = None,
    check: bool = True,
) -> Dataset:
    """RealBlur-J/-R official layout: `<root>/RealBlur_{J,R}_{split}_list.txt` (§1.1 rule 4);
    `list_path` overrides the list, paths still resolve against `root`."""
    root = Path(root)
    name = canonical_dataset_name(dataset)
    if not name.startswith("realblur"):
        raise DatasetError(f"{dataset!r} is not a RealBlur dataset")
    check_split(split)
    if not root.is_dir():
        raise DatasetError(f"{root}: RealBlur root folder not found")
    path = Path(list_path) if list_path else root / f"{REALBLUR_LIST_STEM[name]}_{split}_list.txt"
    return load_list(path, root=root, dataset=name, check=check)


def _json_rows(path: Path) -> tuple[list[JsonRow], list[Skipped]]:
    try:
        entries = json.loads(read_list_text(path, "JSON list"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: not a JSON list ({exc.msg})") from None
    if not isinstance(entries, list):
        raise DatasetError(f"{path}: expected a JSON array of pairs")
    skipped: list[Skipped] = []
    rows: list[JsonRow] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not {"blur_image", "gt_image"} <= entry.keys():
            skipped.append(Skipped(str(path), "entry lacks 'blur_image' or 'gt_image'", number))
            continue
        size = None
        if isinstance(entry.get("height"), int) and isinstance(entry.get("width"), int):
            size = (entry["height"], entry["width"])
        rows.append((number, Path(entry["blur_image"]), Path(entry["gt_image"]), size))
    if not rows:
        raise DatasetError(f"{path}: no image pairs in JSON list")
    return rows, skipped


def _json_dataset_name(path: Path, first_gt: str) -> str:
    kind = list_kind(first_gt)
    if kind == "realblur":
        return realblur_variant(first_gt) or realblur_variant(path.name) or "realblur-j"
    return "gopro" if kind == "gopro" else "paired"


def load_seed_json(path: Path | str, *, check: bool = True) -> Dataset:
    """The seed's `preprocess.py` lists: a JSON array of {blur_image, gt_image, height, width}
    with absolute paths (used as given); height/width only cross-check the GT size."""
    path = Path(path)
    rows, skipped = _json_rows(path)
    name = _json_dataset_name(path, rows[0][2].as_posix())

    pairs: list[Pair] = []
    origin: Origin = {}
    sizes: dict[str, tuple[int, int]] = {}
    for number, blur, sharp, size in rows:
        if name.startswith("realblur"):
            pair_name = realblur_prediction_name(sharp)
        elif name == "gopro":
            pair_name = gopro_prediction_name(blur)
        else:
            pair_name = folder_prediction_name(blur)
        if pair_name in origin:
            reason = f"duplicate of entry {origin[pair_name][1]} (prediction name {pair_name})"
            skipped.append(Skipped(str(path), reason, number))
            continue
        origin[pair_name] = (str(path), number)
        if size is not None:
            sizes[pair_name] = size
        pairs.append(Pair(pair_name, blur, sharp))
    root = common_root(pair_folders(pairs))
    return finish_dataset(
        name, path, root, pairs, skipped, check=check, origin=origin, expected_sizes=sizes
    )
