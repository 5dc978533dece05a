"""Which layout a path holds (datasets.md §4) and `open_dataset`, which loads any of them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import DatasetError
from .gopro import is_gopro_root, load_gopro
from .lists import load_list
from .paired import find_paired_folders, load_paired
from .pairs import SPLITS, Dataset, canonical_dataset_name
from .realblur import load_realblur, load_seed_json, realblur_lists
from .validation import common_root


def detect_layout(data: Path | str) -> str:
    """Which layout `data` is, in the §4 order: `list`, `json`, `realblur`, `gopro`,
    `paired-split` (flat `<data>/{train,test}/{input,target}`) or `paired`."""
    data = Path(data)
    if not data.exists():
        raise DatasetError(f"{data}: no such file or folder")
    if data.is_file():
        suffix = data.suffix.lower()
        if suffix == ".txt":
            return "list"
        if suffix == ".json":
            return "json"
        raise DatasetError(f"{data}: a dataset file must be a .txt or .json list")
    if realblur_lists(data):
        return "realblur"
    if is_gopro_root(data):
        return "gopro"
    if any((data / s).is_dir() and find_paired_folders(data / s) for s in SPLITS):
        return "paired-split"
    if find_paired_folders(data):
        return "paired"
    raise DatasetError(
        f"{data}: no dataset layout found (looked for a .txt/.json list, "
        "RealBlur_[JR]_<split>_list.txt, train|test/<sequence>/{blur,sharp}, "
        "blur/+sharp/ folders or their aliases)"
    )


def _realblur_variant_at(data: Path, name: str | None) -> str:
    """`name` when it is a RealBlur variant, else the one variant whose lists `data` holds."""
    if name is not None and name.startswith("realblur"):
        return name
    variants = realblur_lists(data)
    if len(variants) > 1:
        raise DatasetError(
            f"{data}: holds both RealBlur-J and RealBlur-R lists; "
            "pick one with dataset realblur-j or realblur-r"
        )
    return next(iter(variants))


def open_dataset(
    data: Path | str,
    *,
    dataset: str | None = None,
    split: str = "test",
    list_path: Path | str | None = None,
    gopro_blur: str = "blur",
    check: bool = True,
) -> Dataset:
    """Load any supported layout, detected in the §4 order. `dataset` picks RealBlur-J vs -R
    when a root holds both, and names flat/paired layouts (e.g. `realblur-j` for MPRNet's
    `test/RealBlur_J/{input,target}`, which then uses the RealBlur protocol).

    When `data` is a folder, the dataset's `root` (where outputs may not go, §5) is at least
    `data` itself, not just the folders that hold the pairs.
    """
    data = Path(data)
    loaded = _load(data, dataset, split, list_path, gopro_blur, check)
    if data.is_dir():
        loaded = replace(loaded, root=common_root([data, loaded.root]))
    return loaded


def _load(
    data: Path,
    dataset: str | None,
    split: str,
    list_path: Path | str | None,
    gopro_blur: str,
    check: bool,
) -> Dataset:
    name = canonical_dataset_name(dataset) if dataset else None
    if list_path is not None:
        if name == "gopro":
            return load_gopro(data, split, blur_folder=gopro_blur, list_path=list_path, check=check)
        return load_list(list_path, root=data, dataset=name, gopro_blur=gopro_blur, check=check)
    layout = detect_layout(data)
    if layout == "list":
        return load_list(data, dataset=name, gopro_blur=gopro_blur, check=check)
    if layout == "json":
        return load_seed_json(data, check=check)
    if layout == "realblur":
        return load_realblur(data, _realblur_variant_at(data, name), split, check=check)
    if layout == "gopro":
        return load_gopro(data, split, blur_folder=gopro_blur, check=check)
    if layout == "paired-split":
        split_dir = data / split
        if not split_dir.is_dir():
            raise DatasetError(f"{split_dir}: split folder not found")
        return load_paired(split_dir, dataset=name or "paired", check=check)
    return load_paired(data, dataset=name or "paired", check=check)
