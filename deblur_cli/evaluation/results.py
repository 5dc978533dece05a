"""The per-image results file: JSON lines, a header (dataset, protocol, prediction source) then
one line per scored image, appended as soon as each score is known so that a killed run can be
resumed. An earlier run's file is never lost: it is resumed, refused, or kept aside."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import InvalidArgumentError, ResultsFileError
from .protocol import PROTOCOL_KEYS
from .report import ImageRecord

RESULTS_NAME = "results.jsonl"  # inside --save-dir, beside metrics.csv (datasets.md §5)


class _NotResults(Exception):
    """A line that is not a results line (turned into ResultsFileError by the callers)."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise ResultsFileError(f"{path}: is a folder, not a results file") from None
    except OSError as exc:
        raise ResultsFileError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _parse(data: bytes) -> tuple[dict[str, Any] | None, list[ImageRecord]]:
    """Header and records. A torn last line (a write cut short: no newline after it, and
    something readable before it) is ignored; any other bad line raises _NotResults."""
    header: dict[str, Any] | None = None
    records: list[ImageRecord] = []
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw.decode("utf-8"))
            if not isinstance(entry, dict):
                raise TypeError("not a JSON object")
            if "protocol" in entry and "name" not in entry:
                header = entry
            else:
                records.append(ImageRecord.from_dict(entry))
        except (KeyError, TypeError, ValueError):  # ValueError covers JSON and UTF-8 errors
            if number == len(lines) and (header is not None or records):
                break
            raise _NotResults(number) from None
    return header, records


def read_results(path: Path | str) -> tuple[dict[str, Any] | None, list[ImageRecord]]:
    """Header and records of a results file.

    Raises:
        ResultsFileError: the file cannot be read, or a line (named) is not a results line,
            e.g. a binary file or another JSON document.
    """
    path = Path(path)
    return _parse_file(path, _read_bytes(path))


def _parse_file(path: Path, data: bytes) -> tuple[dict[str, Any] | None, list[ImageRecord]]:
    try:
        return _parse(data)
    except _NotResults as bad:
        raise ResultsFileError(
            f"{path}:{bad.line}: not a results line (a results file holds one JSON object "
            "per line, as `deblur evaluate` writes it)"
        ) from None


def check_results_file(path: Path | str, *, resume: bool, overwrite: bool) -> None:
    """Refuse, before any work starts, a run that would lose an earlier run's results: an
    existing file with scores (or an unreadable one) is resumed, or kept aside with
    `overwrite`, never replaced. With `resume`, the file must be readable.

    Raises:
        InvalidArgumentError: `resume` and `overwrite` together.
        ResultsFileError: the file would be lost, or cannot be resumed.
    """
    path = Path(path)
    if resume and overwrite:
        raise InvalidArgumentError("--resume and --overwrite exclude each other: pick one")
    if not path.exists():
        return
    if resume:
        read_results(path)
        return
    if overwrite:
        return
    data = _read_bytes(path)
    aside = f"{path.name}.<date-time>.bak"
    try:
        count = len(_parse(data)[1])
    except _NotResults:
        raise ResultsFileError(
            f"{path}: exists and is not a results file; choose another results file, or add "
            f"--overwrite to start again (the file is then kept as {aside})"
        ) from None
    if count:
        raise ResultsFileError(
            f"{path}: holds {count} image scores of an earlier run; add --resume to go on with "
            f"it, or --overwrite to start again (the earlier file is then kept as {aside})"
        )


def keep_aside(path: Path) -> Path:
    """Rename `path` to `<name>.<date-time>[-N].bak` beside it, a name not taken yet."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{stamp}.bak")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{stamp}-{n}.bak")
        n += 1
    try:
        path.rename(target)
    except OSError as exc:
        raise ResultsFileError(f"{path}: cannot keep it aside ({exc.strerror or exc})") from None
    return target


def _check_header(path: Path, header: dict[str, Any], expected: dict[str, Any]) -> None:
    old = header.get("protocol")
    old = old if isinstance(old, dict) else {}
    mine = expected["protocol"]
    changed = [k for k in PROTOCOL_KEYS if old.get(k) != mine[k]]
    if header.get("dataset") != expected["dataset"]:
        changed.insert(0, "dataset")
    if "source" in expected and header.get("source") != expected["source"]:
        changed.append("prediction source")
    if changed:
        raise ResultsFileError(
            f"{path}: written with a different {', '.join(changed)}; "
            "resume with the same settings or use another results file"
        )


class ResultsWriter:
    """Appends one line per scored image and flushes it, so a kill loses at most the line
    being written (which the reader then ignores)."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle = handle

    def write(self, record: ImageRecord) -> None:
        self._handle.write(json.dumps(asdict(record)) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


@dataclass(frozen=True)
class OpenedResults:
    """A results file ready for appending: the records it already held (when resumed) and
    where an earlier file was kept aside (with `overwrite`)."""

    writer: ResultsWriter
    records: list[ImageRecord]
    kept_aside: Path | None


def _open(path: Path, mode: str) -> IO[str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open(mode, encoding="utf-8")
    except OSError as exc:
        raise ResultsFileError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _reopen_for_resume(path: Path, header_line: dict[str, Any]) -> OpenedResults:
    data = _read_bytes(path)
    header, records = _parse_file(path, data)
    if header is not None:
        _check_header(path, header, header_line)
    keep = data.rfind(b"\n") + 1
    if keep < len(data):  # cut a torn last line off in place, before appending after it
        os.truncate(path, keep)
    handle = _open(path, "a")
    if header is None:
        handle.write(json.dumps(header_line) + "\n")
        handle.flush()
    return OpenedResults(ResultsWriter(path, handle), records, None)


def open_results(
    path: Path | str, header_line: dict[str, Any], *, resume: bool, overwrite: bool
) -> OpenedResults:
    """Open the results file of a run whose header is `header_line` (dataset, protocol and,
    when known, the prediction source).

    `resume` keeps the records already there (the header must match); otherwise an earlier
    file with scores is refused (`check_results_file`) or, with `overwrite`, renamed aside.
    """
    path = Path(path)
    check_results_file(path, resume=resume, overwrite=overwrite)
    if resume and path.exists():
        return _reopen_for_resume(path, header_line)
    kept = keep_aside(path) if overwrite and path.exists() else None
    handle = _open(path, "w")
    handle.write(json.dumps(header_line) + "\n")
    handle.flush()
    return OpenedResults(ResultsWriter(path, handle), [], kept)


def default_results_path(
    dataset: str,
    label: str,
    *,
    output: Path | str | None = None,
    save_dir: Path | str | None = None,
) -> Path:
    """Where per-image results stream when no results file is named, so that `--resume`
    finds them again: beside `output` (`results.json` -> `results.jsonl`), else
    `<save_dir>/results.jsonl`, else `deblur-eval_<dataset>_<label>.jsonl` in the current
    folder (`label`: model and weights, or the predictions folder's name)."""
    if output is not None:
        output = Path(output)
        path = output.with_suffix(".jsonl")
        return path if path != output else output.with_name(output.name + ".images.jsonl")
    if save_dir is not None:
        return Path(save_dir) / RESULTS_NAME
    return Path(f"deblur-eval_{_slug(dataset)}_{_slug(label)}.jsonl")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"
