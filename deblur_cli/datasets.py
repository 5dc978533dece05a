"""Dataset layouts and list files (datasets.md): RealBlur-J/-R lists, the seed's JSON lists,
GoPro, generic paired folders, auto-detection, official prediction names, pair validation and
reading images as 8-bit RGB.

Loaders return a frozen `Dataset` whose bad items are listed in `skipped` (never dropped
silently); fatal problems raise `DatasetError` with a one-line message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import DatasetError, ImageError

DATASET_NAMES = ("realblur-j", "realblur-r", "gopro", "paired")
SPLITS = ("train", "test")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # §3 rule 2
BLUR_ALIASES = ("blur", "input", "lq", "blurred")  # §3
SHARP_ALIASES = ("sharp", "target", "gt", "sharp_gt")  # §3
GOPRO_BLUR_FOLDERS = ("blur", "blur_gamma")  # §2
# §1: the dataset folder names (note the upstream "itensity" spelling).
REALBLUR_FOLDERS = {
    "realblur-j": "RealBlur-J_ECC_IMCORR_centroid_itensity_ref",
    "realblur-r": "RealBlur-R_BM3D_ECC_IMCORR_centroid_itensity_ref",
}
_REALBLUR_LIST_STEM = {"realblur-j": "RealBlur_J", "realblur-r": "RealBlur_R"}
_REALBLUR_GT = re.compile(r"^gt_(\d+)$")


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


def natural_key(text: str) -> tuple[object, ...]:
    """Sort key that orders digit runs by value, so `2.png` < `10.png` (§3 rule 4)."""
    return tuple(
        (0, int(tok), tok) if tok.isdigit() else (1, tok.lower(), tok)
        for tok in re.split(r"(\d+)", text)
        if tok
    )


# --------------------------------------------------------------------------------------
# Official prediction names (§5)


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


# --------------------------------------------------------------------------------------
# Reading images and validating pairs


def read_rgb(path: Path) -> np.ndarray:
    """Read an image as H×W×3 uint8 RGB (§3 rule 5): 16-bit scaled to 8 bits (rounded),
    alpha dropped, grayscale replicated. EXIF orientation is ignored, like skimage.io."""
    import cv2

    try:
        buf = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None:
        raise ImageError(f"{path}: not a readable image")
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ImageError(f"{path}: unsupported sample type {img.dtype} (8- or 16-bit expected)")
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[..., None], 3, axis=2))
    if img.shape[2] == 2:  # gray + alpha
        return np.ascontiguousarray(np.repeat(img[..., :1], 3, axis=2))
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


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


_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "RGB;16", "RGBA;16")


def validate_pairs(
    pairs: Sequence[Pair],
    *,
    origin: dict[str, tuple[str, int | None]] | None = None,
    strict_rgb: bool = False,
    expected_sizes: dict[str, tuple[int, int]] | None = None,
) -> tuple[list[Pair], list[Skipped], list[str]]:
    """Check every pair before any model runs (datasets.md §1.1 rule 3): both files exist
    and decode, GT and blur have the same H×W, and (with `strict_rgb`) both are 3-channel.

    Args:
        origin: pair name -> (file, line) to report against (a list file line), else the
            ground-truth path is reported.
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
        if (gt.height, gt.width) != (blur.height, blur.width):
            reason = (
                f"size mismatch: {pair.sharp} is {gt.height}x{gt.width}, "
                f"{pair.blur} is {blur.height}x{blur.width}"
            )
            skipped.append(Skipped(file, reason, line))
            continue
        if strict_rgb:
            bad = [(p, h.mode) for p, h in ((pair.sharp, gt), (pair.blur, blur)) if h.mode != "RGB"]
            if bad:
                path, mode = bad[0]
                skipped.append(Skipped(file, f"{path} has mode {mode}, expected 8-bit RGB", line))
                continue
        want = (expected_sizes or {}).get(pair.name)
        if want is not None and want != (gt.height, gt.width):
            reason = f"{pair.sharp} is {gt.height}x{gt.width} but the list says {want[0]}x{want[1]}"
            skipped.append(Skipped(file, reason, line))
            continue
        sixteen_bit += gt.mode in _SIXTEEN_BIT_MODES or blur.mode in _SIXTEEN_BIT_MODES
        good.append(replace(pair, size=(gt.height, gt.width)))
    notes = [f"{sixteen_bit} pair(s) with 16-bit images: scaled to 8 bits"] if sixteen_bit else []
    return good, skipped, notes


def _finish(
    name: str,
    source: Path,
    root: Path,
    pairs: list[Pair],
    skipped: list[Skipped],
    *,
    check: bool,
    origin: dict[str, tuple[str, int | None]] | None = None,
    expected_sizes: dict[str, tuple[int, int]] | None = None,
    notes: Iterable[str] = (),
) -> Dataset:
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


# --------------------------------------------------------------------------------------
# List files (§1.1, §2)


def _list_kind(first_column: str) -> str | None:
    col = first_column.replace("\\", "/")
    if "/gt/gt_" in col or col.startswith("gt/gt_"):
        return "realblur"
    if "/sharp/" in col or col.startswith("sharp/"):
        return "gopro"
    return None


def _realblur_variant(text: str) -> str | None:
    for name, folder in REALBLUR_FOLDERS.items():
        if folder in text:
            return name
    for name, stem in _REALBLUR_LIST_STEM.items():
        if stem in text:
            return name
    if "RealBlur-J" in text:
        return "realblur-j"
    if "RealBlur-R" in text:
        return "realblur-r"
    return None


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
    if not path.is_file():
        raise DatasetError(f"{path}: list file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read list file ({exc})") from None
    base = Path(root) if root is not None else path.parent
    if gopro_blur not in GOPRO_BLUR_FOLDERS:
        raise DatasetError(f"unknown GoPro blur folder {gopro_blur!r}; choose blur or blur_gamma")

    rows: list[tuple[int, str, str]] = []
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

    kind = _list_kind(rows[0][1])
    if kind is None:
        raise DatasetError(
            f"{path}:{rows[0][0]}: cannot tell the list format (first column has neither "
            f"'/gt/gt_' (RealBlur) nor '/sharp/' (GoPro))"
        )
    if kind == "realblur":
        name = canonical_dataset_name(dataset) if dataset else None
        if name is None or not name.startswith("realblur"):
            name = _realblur_variant(rows[0][1]) or _realblur_variant(path.name) or "realblur-j"
    else:
        name = "gopro"

    pairs: list[Pair] = []
    origin: dict[str, tuple[str, int | None]] = {}
    for number, sharp_token, blur_token in rows:
        sharp = base / sharp_token
        blur = base / blur_token
        if kind == "gopro":
            if gopro_blur != "blur":
                blur = _swap_folder(blur, "blur", gopro_blur)
            pair_name = gopro_prediction_name(blur)
        else:
            pair_name = realblur_prediction_name(sharp)
        if pair_name in origin:
            reason = f"duplicate of line {origin[pair_name][1]} (prediction name {pair_name})"
            skipped.append(Skipped(str(path), reason, number))
            continue
        origin[pair_name] = (str(path), number)
        pairs.append(Pair(pair_name, blur, sharp))
    return _finish(name, path, _common_root(pairs), pairs, skipped, check=check, origin=origin)


def _swap_folder(path: Path, old: str, new: str) -> Path:
    if path.parent.name != old:
        return path
    return path.parent.parent / new / path.name


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
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose train or test")
    if not root.is_dir():
        raise DatasetError(f"{root}: RealBlur root folder not found")
    path = Path(list_path) if list_path else root / f"{_REALBLUR_LIST_STEM[name]}_{split}_list.txt"
    return load_list(path, root=root, dataset=name, check=check)


# --------------------------------------------------------------------------------------
# Seed JSON lists (§1.2)


def load_seed_json(path: Path | str, *, check: bool = True) -> Dataset:
    """The seed's `preprocess.py` lists: a JSON array of {blur_image, gt_image, height, width}
    with absolute paths (used as given); height/width only cross-check the GT size."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: JSON list not found")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not a JSON list ({exc})") from None
    if not isinstance(entries, list):
        raise DatasetError(f"{path}: expected a JSON array of pairs")

    skipped: list[Skipped] = []
    rows: list[tuple[int, Path, Path, tuple[int, int] | None]] = []
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

    first_gt = rows[0][2].as_posix()
    if _list_kind(first_gt) == "realblur":
        name = _realblur_variant(first_gt) or _realblur_variant(path.name) or "realblur-j"
    elif _list_kind(first_gt) == "gopro":
        name = "gopro"
    else:
        name = "paired"

    pairs: list[Pair] = []
    origin: dict[str, tuple[str, int | None]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for number, blur, sharp, size in rows:
        if name.startswith("realblur"):
            pair_name = realblur_prediction_name(sharp)
        elif name == "gopro":
            pair_name = gopro_prediction_name(blur)
        else:
            pair_name = f"{blur.parent.name}/{blur.stem}.png"
        if pair_name in origin:
            reason = f"duplicate of entry {origin[pair_name][1]} (prediction name {pair_name})"
            skipped.append(Skipped(str(path), reason, number))
            continue
        origin[pair_name] = (str(path), number)
        if size is not None:
            sizes[pair_name] = size
        pairs.append(Pair(pair_name, blur, sharp))
    return _finish(
        name,
        path,
        _common_root(pairs),
        pairs,
        skipped,
        check=check,
        origin=origin,
        expected_sizes=sizes,
    )


def _common_root(pairs: Sequence[Pair]) -> Path:
    import os

    folders = {str(p.parent.absolute()) for pair in pairs for p in (pair.blur, pair.sharp)}
    return Path(os.path.commonpath(folders)) if folders else Path(".")


# --------------------------------------------------------------------------------------
# GoPro (§2)


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
    if blur_folder not in GOPRO_BLUR_FOLDERS:
        raise DatasetError(f"unknown GoPro blur folder {blur_folder!r}; choose blur or blur_gamma")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose train or test")
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
        blur_dir, sharp_dir = seq / blur_folder, seq / "sharp"
        if not blur_dir.is_dir() or not sharp_dir.is_dir():
            missing = blur_folder if not blur_dir.is_dir() else "sharp"
            skipped.append(Skipped(str(seq), f"sequence has no {missing}/ folder"))
            continue
        for blur in sorted(
            _images_in(blur_dir, recursive=False), key=lambda p: natural_key(p.name)
        ):
            sharp = sharp_dir / blur.name
            if not sharp.is_file():
                skipped.append(Skipped(str(blur), f"no matching {sharp}"))
                continue
            pairs.append(Pair(gopro_prediction_name(blur), blur, sharp))
    return _finish("gopro", split_dir, root, pairs, skipped, check=check)


# --------------------------------------------------------------------------------------
# Paired folders (§3)


def _images_in(folder: Path, *, recursive: bool = True) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return [p for p in it if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]


def _find_side(root: Path, aliases: Sequence[str]) -> list[Path]:
    found = []
    for child in root.iterdir() if root.is_dir() else ():
        if child.is_dir() and child.name.lower() in aliases:
            found.append(child)
    return sorted(found)


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
    for path in _images_in(folder):
        stem = path.relative_to(folder).with_suffix("").as_posix()
        if stem in by_stem:
            raise DatasetError(
                f"{folder}: {by_stem[stem].name} and {path.name} share the stem {stem!r}"
            )
        by_stem[stem] = path
    return by_stem


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
        blur_dir = Path(blur_dir) if blur_dir is not None else found[0]
        sharp_dir = Path(sharp_dir) if sharp_dir is not None else found[1]
    blur_dir, sharp_dir = Path(blur_dir), Path(sharp_dir)
    for folder in (blur_dir, sharp_dir):
        if not folder.is_dir():
            raise DatasetError(f"{folder}: folder not found")

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
    source = blur_dir.parent
    return _finish(
        name, source, _common_root_dirs(blur_dir, sharp_dir), pairs, skipped, check=check
    )


def _common_root_dirs(a: Path, b: Path) -> Path:
    import os

    return Path(os.path.commonpath([str(a.absolute()), str(b.absolute())]))


# --------------------------------------------------------------------------------------
# Auto-detection (§4)


def _realblur_lists(root: Path) -> dict[str, list[Path]]:
    return {
        name: sorted(root.glob(f"{stem}_*_list.txt"))
        for name, stem in _REALBLUR_LIST_STEM.items()
        if any(root.glob(f"{stem}_*_list.txt"))
    }


def _is_gopro_root(root: Path) -> bool:
    for split in SPLITS:
        split_dir = root / split
        if split_dir.is_dir():
            for child in split_dir.iterdir():
                if (
                    child.is_dir()
                    and (child / "sharp").is_dir()
                    and any((child / b).is_dir() for b in GOPRO_BLUR_FOLDERS)
                ):
                    return True
    return False


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
    if _realblur_lists(data):
        return "realblur"
    if _is_gopro_root(data):
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
    `test/RealBlur_J/{input,target}`, which then uses the RealBlur protocol)."""
    data = Path(data)
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
        variants = _realblur_lists(data)
        if name is None or not name.startswith("realblur"):
            if len(variants) > 1:
                raise DatasetError(
                    f"{data}: holds both RealBlur-J and RealBlur-R lists; "
                    "pick one with dataset realblur-j or realblur-r"
                )
            name = next(iter(variants))
        return load_realblur(data, name, split, check=check)
    if layout == "gopro":
        return load_gopro(data, split, blur_folder=gopro_blur, check=check)
    if layout == "paired-split":
        split_dir = data / split
        if not split_dir.is_dir():
            raise DatasetError(f"{split_dir}: split folder not found")
        return load_paired(split_dir, dataset=name or "paired", check=check)
    return load_paired(data, dataset=name or "paired", check=check)
