"""Naming conventions of the published layouts: the RealBlur folder and list names, how a list
line's path tells RealBlur from GoPro, and the official prediction names (datasets.md §1, §5)."""

from __future__ import annotations

import re
from pathlib import Path

from ..defaults import GoproBlur
from ..errors import DatasetError

GOPRO_BLUR_FOLDERS: tuple[str, ...] = tuple(b.value for b in GoproBlur)  # §2
# §1: the dataset folder names (note the upstream "itensity" spelling).
REALBLUR_FOLDERS = {
    "realblur-j": "RealBlur-J_ECC_IMCORR_centroid_itensity_ref",
    "realblur-r": "RealBlur-R_BM3D_ECC_IMCORR_centroid_itensity_ref",
}
# §1.1 rule 4: `<root>/RealBlur_J_test_list.txt` and friends.
REALBLUR_LIST_STEM = {"realblur-j": "RealBlur_J", "realblur-r": "RealBlur_R"}
_REALBLUR_GT = re.compile(r"^gt_(\d+)$")


def realblur_prediction_name(gt_path: Path) -> str:
    """`<scene>_<N>.png` from `.../<scene>/gt/gt_<N>.png`. The official script takes the first
    `_` token as the scene (remapping `scene244` to `scene244_reflect`) and the last as N, so
    the full scene folder name is kept: `scene244_reflect_3.png` re-scores correctly."""
    match = _REALBLUR_GT.match(gt_path.stem)
    index = match.group(1) if match else gt_path.stem
    return f"{gt_path.parent.parent.name}_{index}.png"


def gopro_prediction_name(blur_path: Path) -> str:
    """`<sequence>/<frame>.png`: the split and `blur/` levels are dropped (§5)."""
    return f"{blur_path.parent.parent.name}/{blur_path.stem}.png"


def paired_prediction_name(relative_blur: str) -> str:
    """The blur-side relative path with a `.png` extension (§5)."""
    return str(Path(relative_blur).with_suffix(".png").as_posix())


def folder_prediction_name(blur_path: Path) -> str:
    """`<folder>/<stem>.png` for a JSON list of neither RealBlur nor GoPro files."""
    return f"{blur_path.parent.name}/{blur_path.stem}.png"


def list_kind(first_column: str) -> str | None:
    """`realblur` (`/gt/gt_` in the ground-truth path), `gopro` (`/sharp/`) or None."""
    col = first_column.replace("\\", "/")
    if "/gt/gt_" in col or col.startswith("gt/gt_"):
        return "realblur"
    if "/sharp/" in col or col.startswith("sharp/"):
        return "gopro"
    return None


def realblur_variant(text: str) -> str | None:
    """`realblur-j` or `realblur-r` when a path or file name says which, else None."""
    for name, folder in REALBLUR_FOLDERS.items():
        if folder in text:
            return name
    for name, stem in REALBLUR_LIST_STEM.items():
        if stem in text:
            return name
    if "RealBlur-J" in text:
        return "realblur-j"
    if "RealBlur-R" in text:
        return "realblur-r"
    return None


def swap_folder(path: Path, old: str, new: str) -> Path:
    """`.../<old>/<file>` -> `.../<new>/<file>` (GoPro `blur` -> `blur_gamma`); other paths
    are returned unchanged."""
    if path.parent.name != old:
        return path
    return path.parent.parent / new / path.name


def check_gopro_blur(folder: str) -> str:
    """`folder` when it is one of GOPRO_BLUR_FOLDERS, else a DatasetError."""
    if folder not in GOPRO_BLUR_FOLDERS:
        choices = " or ".join(GOPRO_BLUR_FOLDERS)
        raise DatasetError(f"unknown GoPro blur folder {folder!r}; choose {choices}")
    return folder
