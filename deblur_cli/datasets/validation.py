"""Pair validation before any model runs (datasets.md §1.1 rule 3): both files exist, their
headers read, GT and blur sizes agree; and the one way every loader builds its `Dataset`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import DatasetError, ImageError
from .pairs import Dataset, Pair, Skipped

# Pillow modes of 16-bit files: noted, because read_rgb scales them to 8 bits (§3 rule 5).
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "RGB;16", "RGBA;16")

Origin = dict[str, tuple[str, int | None]]
"""Pair name -> (file, line) to report a problem against (a list file line)."""


@dataclass(frozen=True)
class _Header:
    height: int
    width: int
    mode: str


def _read_header(path: Path) -> _Header:
    """Size and mode from the file header only (no decoding): validation stays fast."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return _Header(im.height, im.width, im.mode)
    except FileNotFoundError:
        raise ImageError(f"missing file {path}") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"cannot read {path} ({exc})") from None


def _pair_problem(
    pair: Pair, gt: _Header, blur: _Header, strict_rgb: bool, want: tuple[int, int] | None
) -> str | None:
    """Why a pair whose headers read cannot be scored, or None when it can."""
    if (gt.height, gt.width) != (blur.height, blur.width):
        return (
            f"size mismatch: {pair.sharp} is {gt.height}x{gt.width}, "
            f"{pair.blur} is {blur.height}x{blur.width}"
        )
    if strict_rgb:
        for path, header in ((pair.sharp, gt), (pair.blur, blur)):
            if header.mode != "RGB":
                return f"{path} has mode {header.mode}, expected 8-bit RGB"
    if want is not None and want != (gt.height, gt.width):
        return f"{pair.sharp} is {gt.height}x{gt.width} but the list says {want[0]}x{want[1]}"
    return None


def validate_pairs(
    pairs: Sequence[Pair],
    *,
    origin: Origin | None = None,
    strict_rgb: bool = False,
    expected_sizes: dict[str, tuple[int, int]] | None = None,
) -> tuple[list[Pair], list[Skipped], list[str]]:
    """Check every pair: both files exist and their headers read, GT and blur have the same
    H×W, and (with `strict_rgb`) both are 3-channel 8-bit.

    Args:
        origin: where to report each pair's problems, else its ground-truth path.
        expected_sizes: pair name -> (H, W) cross-check (the seed's JSON lists).

    Returns:
        (good pairs with `size` set, skipped items, notes).
    """
    good: list[Pair] = []
    skipped: list[Skipped] = []
    sixteen_bit = 0
    for pair in pairs:
        file, line = (origin or {}).get(pair.name, (str(pair.sharp), None))
        try:
            gt = _read_header(pair.sharp)
            blur = _read_header(pair.blur)
        except ImageError as exc:
            skipped.append(Skipped(file, str(exc), line))
            continue
        want = (expected_sizes or {}).get(pair.name)
        problem = _pair_problem(pair, gt, blur, strict_rgb, want)
        if problem is not None:
            skipped.append(Skipped(file, problem, line))
            continue
        sixteen_bit += gt.mode in _SIXTEEN_BIT_MODES or blur.mode in _SIXTEEN_BIT_MODES
        good.append(replace(pair, size=(gt.height, gt.width)))
    notes = [f"{sixteen_bit} pair(s) with 16-bit images: scaled to 8 bits"] if sixteen_bit else []
    return good, skipped, notes


def finish_dataset(
    name: str,
    source: Path,
    root: Path,
    pairs: list[Pair],
    skipped: list[Skipped],
    *,
    check: bool,
    origin: Origin | None = None,
    expected_sizes: dict[str, tuple[int, int]] | None = None,
    notes: Iterable[str] = (),
) -> Dataset:
    """The `Dataset` of a loader: pairs validated when `check` (published layouts must be
    8-bit RGB; generic paired folders may hold gray or 16-bit files); no usable pair is a
    DatasetError that names the first problem."""
    notes = list(notes)
    if check:
        pairs, bad, more = validate_pairs(
            pairs,
            origin=origin,
            strict_rgb=name != "paired",
            expected_sizes=expected_sizes,
        )
        skipped = skipped + bad
        notes += more
    if not pairs:
        first = f" (first problem: {skipped[0]})" if skipped else ""
        raise DatasetError(f"{source}: no usable image pairs{first}")
    return Dataset(name, source, root, tuple(pairs), tuple(skipped), tuple(notes))


def common_root(paths: Iterable[Path]) -> Path:
    """The deepest folder holding every path (the current folder when there are none)."""
    folders = {str(p.absolute()) for p in paths}
    return Path(os.path.commonpath(folders)) if folders else Path(".")


def pair_folders(pairs: Iterable[Pair]) -> list[Path]:
    """The folders of both files of every pair."""
    return [p.parent for pair in pairs for p in (pair.blur, pair.sharp)]
