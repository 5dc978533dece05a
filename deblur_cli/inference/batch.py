"""Restoring many files: input discovery, output naming, skip/overwrite, per-file isolation.

One bad file never stops the batch: each job yields an `ImageResult` with its status and a
one-line error. Output naming follows Real-ESRGAN: `OUT/<stem><suffix>.<ext>`.

Outputs never replace inputs: an output (or its GIF/compare picture) that is one of the input
files refuses the whole batch before anything runs, `--overwrite` or not. When two inputs would
be written to the same output (`a.png` and `a.jpg` with `--ext png`), the first in sorted
order is restored and the second fails with an error naming both, so nothing is lost silently.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from ..defaults import IMAGE_QUALITY, IMAGE_SUFFIXES, RESTORE_SUFFIX
from ..errors import DeblurError, ImageError, InvalidArgumentError, OutputPathError
from ..files import WRITE_SUFFIXES, ImageInfo, read_image, write_image
from .restorer import Restorer, RestoreStats, resize_to_long_side
from .visuals import COMPARE_MODES, make_compare, make_gif

GLOB_CHARS = set("*?[")
_SEPARATORS = tuple(sep for sep in ("/", "\\", os.sep, os.altsep) if sep)


@dataclass(frozen=True)
class Job:
    """One input and where its result goes; `conflict` (an error line) when another input of
    the batch is already written to `output`, so this one must not run."""

    source: Path
    output: Path
    conflict: str | None = None


@dataclass(frozen=True)
class OutputOptions:
    """Where and how results are written.

    Raises:
        OutputPathError: a suffix that would leave the output folder (separators, "..").
        InvalidArgumentError: an unknown --ext or compare layout, quality outside 1..100,
            resize_long below 1.
    """

    output: Path | None = None  # folder (or exact file for a single input); None = beside input
    suffix: str = RESTORE_SUFFIX
    ext: str | None = None  # "png", "jpg", ...; None keeps the input's format
    quality: int = IMAGE_QUALITY
    overwrite: bool = False
    gif: bool = False
    gif_label: str | None = None
    compare: str | None = None  # "side-by-side" or "split"
    resize_long: int | None = None

    def __post_init__(self) -> None:
        if any(sep in self.suffix for sep in _SEPARATORS) or ".." in self.suffix:
            raise OutputPathError(
                f"--suffix '{self.suffix}': a suffix cannot contain path separators or '..' "
                "(choose the folder with -o)"
            )
        if self.ext is not None and _dotted(self.ext) not in WRITE_SUFFIXES:
            known = ", ".join(s.lstrip(".") for s in WRITE_SUFFIXES)
            raise InvalidArgumentError(f"--ext {self.ext}: cannot write this format (use {known})")
        if not 1 <= self.quality <= 100:
            raise InvalidArgumentError(f"quality must be in 1..100, got {self.quality}")
        if self.resize_long is not None and self.resize_long < 1:
            raise InvalidArgumentError(f"--resize-long must be at least 1, got {self.resize_long}")
        if self.compare is not None and self.compare not in COMPARE_MODES:
            raise InvalidArgumentError(
                f"unknown compare layout '{self.compare}' (use {', '.join(COMPARE_MODES)})"
            )

    def extras(self, output: Path) -> list[Path]:
        """The GIF and compare pictures written beside `output` (as asked)."""
        paths = [gif_path(output)] if self.gif else []
        return paths + ([compare_path(output)] if self.compare else [])


@dataclass(frozen=True)
class ImageResult:
    source: str
    output: str | None
    status: str  # "ok", "skipped" or "failed"
    error: str | None = None
    seconds: float = 0.0
    megapixels: float = 0.0
    width: int = 0
    height: int = 0
    tiles: int = 0
    resized_to: tuple[int, int] | None = None  # (H, W) restored, when --resize-long shrank it
    gif: str | None = None
    compare: str | None = None
    retries: int = 0


@dataclass(frozen=True)
class Inputs:
    files: list[Path]
    problems: list[str]  # one-line errors for arguments that gave no image (the rest go on)


def collect_inputs(inputs: Sequence[str], recursive: bool = False) -> Inputs:
    """Expand files, folders and glob patterns into image files (sorted, no duplicates).

    An argument that yields nothing (missing path, empty folder, pattern without matches) is
    reported in `problems`; raises ImageError only when no argument yields any image.
    """
    found: list[Path] = []
    problems: list[str] = []
    for item in inputs:
        images, problem = _expand(item, recursive)
        found.extend(images)
        if problem:
            problems.append(problem)
    if not found:
        raise ImageError(problems[0] if len(problems) == 1 else "; ".join(problems))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    files = [Path(os.path.relpath(p)) if _under_cwd(p) else p for p in unique]
    return Inputs(files, problems)


def _expand(item: str, recursive: bool) -> tuple[list[Path], str | None]:
    path = Path(item)
    if any(c in item for c in GLOB_CHARS) and not path.exists():
        matches = sorted(Path(p) for p in glob.glob(item, recursive=recursive))
        images = [p for p in matches if p.is_file() and _is_image(p)]
        return images, None if images else f"{item}: no image matches this pattern"
    if path.is_dir():
        pattern = "**/*" if recursive else "*"
        images = sorted(p for p in path.glob(pattern) if p.is_file() and _is_image(p))
        hint = "" if recursive else " (use -r to search sub-folders)"
        return images, None if images else f"{path}: no images in this directory{hint}"
    if path.exists():
        return [path], None  # an explicit file is attempted whatever its suffix
    return [], f"{path}: no such file or directory"


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _under_cwd(path: Path) -> bool:
    try:
        path.relative_to(Path.cwd())
        return True
    except ValueError:
        return False


def _dotted(ext: str) -> str:
    return "." + ext.lower().lstrip(".")


def gif_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}_blur.gif")


def compare_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}_compare.png")


def plan_jobs(sources: Sequence[Path], options: OutputOptions) -> list[Job]:
    """Output path of every source; a single source with `-o file.ext` writes exactly there.

    Raises:
        OutputPathError: `-o file.ext` with several inputs, or an output that is an input.
    """
    out = options.output
    if out is not None and out.suffix.lower() in WRITE_SUFFIXES and not out.is_dir():
        if len(sources) != 1:
            raise OutputPathError(
                f"{out}: a file name given as -o, but there are {len(sources)} inputs"
            )
        jobs = [Job(sources[0], out)]
    else:
        jobs = _named_jobs(sources, options)
    _refuse_overwriting_inputs(jobs, sources, options)
    return jobs


def _named_jobs(sources: Sequence[Path], options: OutputOptions) -> list[Job]:
    jobs: list[Job] = []
    first_writer: dict[Path, Path] = {}
    for src in sources:
        if options.ext:
            ext = _dotted(options.ext)
        else:  # keep the input's format where it can be written, else PNG
            ext = src.suffix.lower() if src.suffix.lower() in WRITE_SUFFIXES else ".png"
        folder = options.output if options.output is not None else src.parent
        target = folder / f"{src.stem}{options.suffix}{ext}"
        key = Path(os.path.normcase(os.path.abspath(target)))
        conflict = None
        if key in first_writer:
            conflict = (
                f"{src}: its output {target} is already the output of {first_writer[key]} "
                "(restore it separately, or with another --suffix or -o)"
            )
        else:
            first_writer[key] = src
        jobs.append(Job(src, target, conflict))
    return jobs


def _refuse_overwriting_inputs(
    jobs: Sequence[Job], sources: Sequence[Path], options: OutputOptions
) -> None:
    """OutputPathError when any output path is one of the input files (same file after
    resolving links, or the same inode), however it is spelt."""
    resolved = {p.resolve(): p for p in sources}
    inodes = {key: p for p in sources if (key := _inode(p)) is not None}
    for job in jobs:
        for target in [job.output, *options.extras(job.output)]:
            hit = resolved.get(target.resolve())
            if hit is None and (key := _inode(target)) is not None:
                hit = inodes.get(key)
            if hit is not None:
                what = "the input itself" if hit == job.source else f"the input {hit}"
                raise OutputPathError(
                    f"{job.source}: the output {target} is {what}; inputs are never "
                    "overwritten (choose another folder with -o, or another --suffix)"
                )


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:  # not there (yet), or not reachable: cannot be an input
        return None
    return st.st_dev, st.st_ino


def run_jobs(
    restorer: Restorer,
    jobs: Sequence[Job],
    options: OutputOptions,
    *,
    on_tiles: Callable[[Job, int, int], None] | None = None,
) -> Iterator[ImageResult]:
    """Restore each job in turn, yielding its result; failures are reported, not raised."""
    for job in jobs:
        if job.conflict is not None:
            yield ImageResult(str(job.source), None, "failed", error=job.conflict)
            continue
        if job.output.exists() and not options.overwrite:
            yield ImageResult(str(job.source), str(job.output), "skipped",
                              error="output exists (use --overwrite)")  # fmt: skip
            continue
        start = time.perf_counter()
        try:
            result = _restore_one(restorer, job, options, on_tiles)
        except DeblurError as exc:
            result = ImageResult(str(job.source), None, "failed", error=str(exc))
        except MemoryError:
            result = ImageResult(str(job.source), None, "failed", error=f"{job.source}: out of memory")
        if result.status == "ok":
            result = replace(result, seconds=time.perf_counter() - start)
        yield result


def _restore_one(
    restorer: Restorer,
    job: Job,
    options: OutputOptions,
    on_tiles: Callable[[Job, int, int], None] | None,
) -> ImageResult:
    image, info = read_image(job.source)
    progress = (lambda done, total: on_tiles(job, done, total)) if on_tiles else None
    restored, stats = restorer.restore(image, resize_long=options.resize_long, progress=progress)
    _write_restored(job.output, restored, info, stats, options)
    gif = compare = None
    if options.gif or options.compare:
        shown = image if stats.restored_size == stats.input_size else _shrink(image, stats)
        if options.gif:
            gif = make_gif(shown, restored, gif_path(job.output), label=options.gif_label)
        if options.compare:
            compare = make_compare(shown, restored, compare_path(job.output), mode=options.compare)
    return _result(job, stats, gif, compare)


def _write_restored(
    output: Path, restored: np.ndarray, info: ImageInfo, stats: RestoreStats, options: OutputOptions
) -> None:
    """Write the result at the input's bit depth, with its alpha (resized alike)."""
    alpha = info.alpha
    if alpha is not None and stats.restored_size != stats.input_size:
        height, width = stats.restored_size
        alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_AREA)
    bit_depth = 16 if info.bit_depth >= 16 else 8
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"{output.parent}: cannot create output folder ({exc.strerror})") from None
    write_image(output, restored, bit_depth=bit_depth, quality=options.quality, alpha=alpha)


def _shrink(image: np.ndarray, stats: RestoreStats) -> np.ndarray:
    return resize_to_long_side(image, max(stats.restored_size))


def _result(job: Job, stats: RestoreStats, gif: Path | None, compare: Path | None) -> ImageResult:
    h, w = stats.input_size
    rh, rw = stats.restored_size
    return ImageResult(
        source=str(job.source),
        output=str(job.output),
        status="ok",
        seconds=stats.seconds,
        megapixels=rh * rw / 1e6,
        width=w,
        height=h,
        tiles=stats.tiles,
        resized_to=None if (rh, rw) == (h, w) else (rh, rw),
        gif=str(gif) if gif else None,
        compare=str(compare) if compare else None,
        retries=stats.retries,
    )

