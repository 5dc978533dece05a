"""Generic paired folders (datasets.md §3): one blur-side and one sharp-side folder, matched
recursively by relative path without extension."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..defaults import IMAGE_SUFFIXES
from ..errors import DatasetError
from .names import paired_prediction_name
from .pairs import Dataset, Pair, Skipped, canonical_dataset_name, natural_key
from .validation import common_root, finish_dataset

BLUR_ALIASES = ("blur", "input", "lq", "blurred")  # §3
SHARP_ALIASES = ("sharp", "target", "gt", "sharp_gt")  # §3


def image_files(folder: Path, *, recursive: bool = True) -> list[Path]:
    """Files under `folder` with an image suffix (§3 rule 2), in no particular order."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return [p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def _find_side(root: Path, aliases: Sequence[str]) -> list[Path]:
    children = root.iterdir() if root.is_dir() else ()
    return sorted(c for c in children if c.is_dir() and c.name.lower() in aliases)


def find_paired_folders(root: Path) -> tuple[Path, Path] | None:
    """(blur-side, sharp-side) folders directly under `root`, None when either is absent;
    more than one folder for a side is an error (§3 rule 1)."""
    blur = _find_side(root, BLUR_ALIASES)
    sharp = _find_side(root, SHARP_ALIASES)
    for side, found in (("blur", blur), ("sharp", sharp)):
        if len(found) > 1:
            names = ", ".join(f.name for f in found)
            raise DatasetError(f"{root}: ambiguous {side}-side folders ({names}); keep one")
    if not blur or not sharp:
        return None
    return blur[0], sharp[0]


def _by_stem(folder: Path) -> dict[str, Path]:
    by_stem: dict[str, Path] = {}
    for path in image_files(folder):
        stem = path.relative_to(folder).with_suffix("").as_posix()
        if stem in by_stem:
            raise DatasetError(
                f"{folder}: {by_stem[stem].name} and {path.name} share the stem {stem!r}"
            )
        by_stem[stem] = path
    return by_stem


def _side_folders(
    root: Path | str | None, blur_dir: Path | str | None, sharp_dir: Path | str | None
) -> tuple[Path, Path]:
    """The two folders: as given, or found under `root` by their aliases."""
    if blur_dir is None or sharp_dir is None:
        if root is None:
            raise DatasetError("paired folders need a root or both blur and sharp folders")
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: folder not found")
        found = find_paired_folders(root)
        if found is None:
            raise DatasetError(
                f"{root}: no blur-side ({'/'.join(BLUR_ALIASES)}) and sharp-side "
                f"({'/'.join(SHARP_ALIASES)}) folders"
            )
        blur_dir = blur_dir if blur_dir is not None else found[0]
        sharp_dir = sharp_dir if sharp_dir is not None else found[1]
    blur_dir, sharp_dir = Path(blur_dir), Path(sharp_dir)
    for folder in (blur_dir, sharp_dir):
        if not folder.is_dir():
            raise DatasetError(f"{folder}: folder not found")
    return blur_dir, sharp_dir


def load_paired(
    root: Path | str | None = None,
    *,
    blur_dir: Path | str | None = None,
    sharp_dir: Path | str | None = None,
    dataset: str = "paired",
    check: bool = True,
) -> Dataset:
    """Generic paired folders (§3): one blur-side and one sharp-side folder under `root`
    (or given explicitly); files matched recursively by relative path without extension,
    natural-sorted; unmatched files are reported as skipped."""
    blur_dir, sharp_dir = _side_folders(root, blur_dir, sharp_dir)
    blurs, sharps = _by_stem(blur_dir), _by_stem(sharp_dir)
    pairs: list[Pair] = []
    skipped: list[Skipped] = []
    for stem in sorted(blurs.keys() | sharps.keys(), key=natural_key):
        blur, sharp = blurs.get(stem), sharps.get(stem)
        if blur is None:
            skipped.append(Skipped(str(sharp), f"no matching file in {blur_dir}"))
        elif sharp is None:
            skipped.append(Skipped(str(blur), f"no matching file in {sharp_dir}"))
        else:
            rel = blur.relative_to(blur_dir).as_posix()
            pairs.append(Pair(paired_prediction_name(rel), blur, sharp))
    name = canonical_dataset_name(dataset)
    root_dir = common_root([blur_dir, sharp_dir])
    return finish_dataset(name, blur_dir.parent, root_dir, pairs, skipped, check=check)
