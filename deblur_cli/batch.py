"""Restoring many files: input discovery, output naming, skip/overwrite, per-file isolation.

One bad file never stops the batch: each job yields an `ImageResult` with its status and a
one-line error. Output naming follows Real-ESRGAN: `OUT/<stem><suffix>.<ext>`.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .defaults import IMAGE_SUFFIXES
from .errors import DeblurError, ImageError
from .files import WRITE_SUFFIXES, read_image, write_image
from .inference import Restorer, RestoreStats

GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path


@dataclass(frozen=True)
class OutputOptions:
    output: Path | None = None  # folder (or exact file for a single input); None = beside input
    suffix: str = "_deblurred"
    ext: str | None = None  # "png", "jpg", ...; None keeps the input's format
    quality: int = 95
    overwrite: bool = False
    gif: bool = False
    gif_label: str | None = None
    compare: str | None = None  # "side-by-side" or "split"
    resize_long: int | None = None


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
    reported in `problems`; raises only when no argument yields any image.
    """
    found: list[Path] = []
    problems: list[str] = []
    for item in inputs:
        path = Path(item)
        if any(c in item for c in GLOB_CHARS) and not path.exists():
            matches = sorted(Path(p) for p in glob.glob(item, recursive=recursive))
            images = [p for p in matches if p.is_file() and _is_image(p)]
            if not images:
                problems.append(f"{item}: no image matches this pattern")
            found.extend(images)
        elif path.is_dir():
            pattern = "**/*" if recursive else "*"
            images = sorted(p for p in path.glob(pattern) if p.is_file() and _is_image(p))
            if not images:
                hint = "" if recursive else " (use -r to search sub-folders)"
                problems.append(f"{path}: no images in this directory{hint}")
            found.extend(images)
        elif path.exists():
            found.append(path)  # an explicit file is attempted whatever its suffix
        else:
            problems.append(f"{path}: no such file or directory")
    if not found:
        raise ImageError(problems[0] if len(problems) == 1 else "; ".join(problems))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    files = [Path(os.path.relpath(p)) if _under_cwd(p) else p for p in unique]
    return Inputs(files, problems)


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _under_cwd(path: Path) -> bool:
    try:
        path.relative_to(Path.cwd())
        return True
    except ValueError:
        return False


def plan_jobs(sources: Sequence[Path], options: OutputOptions) -> list[Job]:
    """Output path of every source; a single source with `-o file.ext` writes exactly there."""
    out = options.output
    if out is not None and len(sources) == 1 and out.suffix.lower() in WRITE_SUFFIXES:
        return [Job(sources[0], out)]
    if out is not None and out.suffix.lower() in WRITE_SUFFIXES and not out.is_dir():
        raise DeblurError(f"{out}: a file name given as -o, but there are {len(sources)} inputs")
    jobs, seen = [], {}
    for src in sources:
        if options.ext:
            ext = options.ext.lower().lstrip(".")
            if "." + ext not in WRITE_SUFFIXES:
                raise DeblurError(f"--ext {ext}: cannot write this format (use png, jpg, tiff or webp)")
        else:  # keep the input's format where it can be written, else PNG
            ext = src.suffix.lower().lstrip(".")
            ext = ext if "." + ext in WRITE_SUFFIXES else "png"
        folder = out if out is not None else src.parent
        target = folder / f"{src.stem}{options.suffix}.{ext}"
        if target in seen:
            raise DeblurError(f"{src} and {seen[target]} would both be written to {target}")
        if target.resolve() == src.resolve():
            raise DeblurError(f"{src}: output would overwrite the input (set --suffix or -o)")
        seen[target] = src
        jobs.append(Job(src, target))
    return jobs


def _extra_path(output: Path, kind: str, ext: str) -> Path:
    return output.with_name(f"{output.stem}_{kind}.{ext}")


def run_jobs(
    restorer: Restorer,
    jobs: Sequence[Job],
    options: OutputOptions,
    *,
    on_tiles: Callable[[Job, int, int], None] | None = None,
) -> Iterator[ImageResult]:
    """Restore each job in turn, yielding its result; failures are reported, not raised."""
    for job in jobs:
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
        yield _with_time(result, time.perf_counter() - start)


def _with_time(result: ImageResult, seconds: float) -> ImageResult:
    from dataclasses import replace

    return replace(result, seconds=seconds) if result.status == "ok" else result


def _restore_one(
    restorer: Restorer,
    job: Job,
    options: OutputOptions,
    on_tiles: Callable[[Job, int, int], None] | None,
) -> ImageResult:
    image, info = read_image(job.source)
    progress = (lambda done, total: on_tiles(job, done, total)) if on_tiles else None
    restored, stats = restorer.restore(image, resize_long=options.resize_long, progress=progress)
    alpha = info.alpha
    if alpha is not None and stats.restored_size != stats.input_size:
        import cv2

        alpha = cv2.resize(alpha, stats.restored_size[::-1], interpolation=cv2.INTER_AREA)
    bit_depth = 16 if info.bit_depth >= 16 else 8
    try:
        job.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"{job.output.parent}: cannot create output folder ({exc.strerror})") from None
    write_image(job.output, restored, bit_depth=bit_depth, quality=options.quality, alpha=alpha)
    gif = compare = None
    if options.gif or options.compare:
        from .visuals import make_compare, make_gif

        shown = image if stats.restored_size == stats.input_size else _shrink(image, stats)
        if options.gif:
            gif = make_gif(shown, restored, _extra_path(job.output, "blur", "gif"),
                           label=options.gif_label)  # fmt: skip
        if options.compare:
            compare = make_compare(shown, restored, _extra_path(job.output, "compare", "png"),
                                   mode=options.compare)  # fmt: skip
    return _result(job, stats, gif, compare)


def _shrink(image, stats: RestoreStats):
    from .inference import resize_to_long_side

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
