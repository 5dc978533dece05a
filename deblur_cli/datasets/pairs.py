"""What every layout loader returns: `Pair`s of files, the `Skipped` items with their reasons,
and the frozen `Dataset` that holds both; plus dataset-name and natural-sort helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..defaults import DatasetName, Split
from ..errors import DatasetError

DATASET_NAMES: tuple[str, ...] = tuple(d.value for d in DatasetName)
SPLITS: tuple[str, ...] = tuple(s.value for s in Split)


@dataclass(frozen=True)
class Pair:
    """One blurred input and its ground truth.

    Attributes:
        name: official prediction path relative to a predictions folder (datasets.md §5),
            e.g. `scene230_7.png`, `GOPR0384_11_00/000001.png`, `sub/b.png`. Unique per dataset.
        blur: the blurred input file.
        sharp: the ground-truth file.
        size: (H, W) once validated, else None.
    """

    name: str
    blur: Path
    sharp: Path
    size: tuple[int, int] | None = None


@dataclass(frozen=True)
class Skipped:
    """An item left out of a run, with the file it comes from and why.

    `line` is the 1-based line of a list file (or entry of a JSON list) when there is one.
    """

    file: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class Dataset:
    """Validated pairs of one dataset, in list (or natural-sort) order.

    Attributes:
        name: one of DATASET_NAMES; picks the default metric protocol (RealBlur aligns).
        source: the list file or folder the pairs came from.
        root: top of the dataset tree (outputs must never be written inside it, §5).
        pairs: usable pairs.
        skipped: items left out (bad lines, missing files, size mismatches, unmatched files).
        notes: non-fatal remarks (e.g. 16-bit images that will be scaled to 8 bits).
    """

    name: str
    source: Path
    root: Path
    pairs: tuple[Pair, ...]
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def align_by_default(self) -> bool:
        """Whether the published protocol of this dataset registers predictions (§1.1 vs §1.3)."""
        return self.name.startswith("realblur")


def canonical_dataset_name(name: str) -> str:
    """`RealBlur_J`, `realblur-j`, `GoPro`, ... to one of DATASET_NAMES."""
    key = name.strip().lower().replace("_", "-")
    if key not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {name!r}; choose from {', '.join(DATASET_NAMES)}")
    return key


def check_split(split: str) -> str:
    """`split` when it is one of SPLITS, else a DatasetError."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose {' or '.join(SPLITS)}")
    return split


def natural_key(text: str) -> tuple[object, ...]:
    """Sort key that orders digit runs by value, so `2.png` < `10.png` (§3 rule 4)."""
    return tuple(
        (0, int(tok), tok) if tok.isdigit() else (1, tok.lower(), tok)
        for tok in re.split(r"(\d+)", text)
        if tok
    )
