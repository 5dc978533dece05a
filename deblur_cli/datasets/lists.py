"""List files of ground-truth/blur pairs (datasets.md §1.1, §2): RealBlur's `<gt> <blur>` and
GoPro's SRN-Deblur `<sharp> <blur>` lines, told apart by the first column."""

from __future__ import annotations

from pathlib import Path

from ..errors import DatasetError
from .names import (
    check_gopro_blur,
    gopro_prediction_name,
    list_kind,
    realblur_prediction_name,
    realblur_variant,
    swap_folder,
)
from .pairs import Dataset, Pair, Skipped, canonical_dataset_name
from .validation import Origin, common_root, finish_dataset, pair_folders

Row = tuple[int, str, str]
"""(line number, ground-truth token, blur token)."""


def read_list_text(path: Path, what: str) -> str:
    """The UTF-8 text of a list file; a missing, unreadable or binary file is a DatasetError."""
    if not path.is_file():
        raise DatasetError(f"{path}: {what} not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(f"{path}:{line}: not a text {what} (bytes that are not UTF-8)") from None


def _rows(path: Path, text: str) -> tuple[list[Row], list[Skipped]]:
    """Lines with exactly two tokens; the others are skipped with their line number."""
    rows: list[Row] = []
    skipped: list[Skipped] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        if len(tokens) != 2:
            reason = f"expected 2 paths (<ground truth> <blur>), found {len(tokens)} tokens"
            skipped.append(Skipped(str(path), reason, number))
            continue
        rows.append((number, tokens[0], tokens[1]))
    if not rows:
        first = f" (first problem: {skipped[0]})" if skipped else ""
        raise DatasetError(f"{path}: no image pairs in list file{first}")
    return rows, skipped


def _list_dataset_name(path: Path, first: Row, dataset: str | None) -> tuple[str, str]:
    """(list kind, dataset name): RealBlur-J vs -R from `dataset`, else from the paths."""
    kind = list_kind(first[1])
    if kind is None:
        raise DatasetError(
            f"{path}:{first[0]}: cannot tell the list format (first column has neither "
            f"'/gt/gt_' (RealBlur) nor '/sharp/' (GoPro))"
        )
    if kind == "gopro":
        return kind, "gopro"
    name = canonical_dataset_name(dataset) if dataset else None
    if name is None or not name.startswith("realblur"):
        name = realblur_variant(first[1]) or realblur_variant(path.name) or "realblur-j"
    return kind, name


def load_list(
    path: Path | str,
    *,
    root: Path | str | None = None,
    dataset: str | None = None,
    gopro_blur: str = "blur",
    check: bool = True,
) -> Dataset:
    """A RealBlur (`<gt> <blur>`) or GoPro (`<sharp> <blur>`) list file (§1.1, §2).

    The format is decided from the first column (`/gt/gt_` -> RealBlur, `/sharp/` -> GoPro);
    ground truth comes first in both. Lines are split on whitespace; CRLF, trailing spaces,
    a missing final newline, blank lines and `#` comments are tolerated. A line with a token
    count other than 2, or a duplicate pair, is skipped and reported with its line number.
    Relative paths resolve against `root`, else the list file's folder.
    """
    path = Path(path)
    text = read_list_text(path, "list file")
    base = Path(root) if root is not None else path.parent
    check_gopro_blur(gopro_blur)
    rows, skipped = _rows(path, text)
    kind, name = _list_dataset_name(path, rows[0], dataset)

    pairs: list[Pair] = []
    origin: Origin = {}
    for number, sharp_token, blur_token in rows:
        sharp = base / sharp_token
        blur = base / blur_token
        if kind == "gopro":
            blur = swap_folder(blur, "blur", gopro_blur)
            pair_name = gopro_prediction_name(blur)
        else:
            pair_name = realblur_prediction_name(sharp)
        if pair_name in origin:
            reason = f"duplicate of line {origin[pair_name][1]} (prediction name {pair_name})"
            skipped.append(Skipped(str(path), reason, number))
            continue
        origin[pair_name] = (str(path), number)
        pairs.append(Pair(pair_name, blur, sharp))
    root_dir = common_root(pair_folders(pairs))
    return finish_dataset(name, path, root_dir, pairs, skipped, check=check, origin=origin)
