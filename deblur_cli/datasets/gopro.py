"""GOPRO_Large (datasets.md §2): an SRN-Deblur list file, or `<split>/<sequence>/{blur,sharp}`
folders discovered as the seed does it."""

from __future__ import annotations

from pathlib import Path

from ..errors import DatasetError
from .lists import load_list
from .names import GOPRO_BLUR_FOLDERS, check_gopro_blur, gopro_prediction_name
from .paired import image_files
from .pairs import SPLITS, Dataset, Pair, Skipped, check_split, natural_key
from .validation import finish_dataset


def is_gopro_root(root: Path) -> bool:
    """Whether `root/<split>/<sequence>/` holds `sharp/` and a blur folder (§4)."""
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        for child in split_dir.iterdir():
            if (
                child.is_dir()
                and (child / "sharp").is_dir()
                and any((child / b).is_dir() for b in GOPRO_BLUR_FOLDERS)
            ):
                return True
    return False


def _sequence_pairs(seq: Path, blur_folder: str) -> tuple[list[Pair], list[Skipped]]:
    """One sequence's blur files paired with the same names in `sharp/`."""
    blur_dir, sharp_dir = seq / blur_folder, seq / "sharp"
    if not blur_dir.is_dir() or not sharp_dir.is_dir():
        missing = blur_folder if not blur_dir.is_dir() else "sharp"
        return [], [Skipped(str(seq), f"sequence has no {missing}/ folder")]
    pairs: list[Pair] = []
    skipped: list[Skipped] = []
    for blur in sorted(image_files(blur_dir, recursive=False), key=lambda p: natural_key(p.name)):
        sharp = sharp_dir / blur.name
        if sharp.is_file():
            pairs.append(Pair(gopro_prediction_name(blur), blur, sharp))
        else:
            skipped.append(Skipped(str(blur), f"no matching {sharp}"))
    return pairs, skipped


def load_gopro(
    root: Path | str,
    split: str = "test",
    *,
    blur_folder: str = "blur",
    list_path: Path | str | None = None,
    check: bool = True,
) -> Dataset:
    """GOPRO_Large: an SRN-Deblur list (`<sharp> <blur>`, relative to `root`) when given,
    else discovery as the seed does it: each `<root>/<split>/<sequence>/<blur_folder>/*`
    paired with the same name in `sharp/`; unmatched blur files are reported, not dropped."""
    root = Path(root)
    check_gopro_blur(blur_folder)
    check_split(split)
    if list_path is not None:
        return load_list(list_path, root=root, dataset="gopro", gopro_blur=blur_folder, check=check)
    split_dir = root / split
    if not split_dir.is_dir():
        raise DatasetError(f"{split_dir}: GoPro split folder not found")

    pairs: list[Pair] = []
    skipped: list[Skipped] = []
    sequences = sorted(
        (d for d in split_dir.iterdir() if d.is_dir()), key=lambda d: natural_key(d.name)
    )
    for seq in sequences:
        found, bad = _sequence_pairs(seq, blur_folder)
        pairs += found
        skipped += bad
    return finish_dataset("gopro", split_dir, root, pairs, skipped, check=check)
