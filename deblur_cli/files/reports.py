"""JSON and JSON-lines report files, written atomically (a reader never sees half a report)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import DeblurError
from .atomic import atomic_write_bytes


def write_json(
    path: str | os.PathLike[str],
    obj: Any,
    *,
    error: type[DeblurError] = DeblurError,
    indent: int | None = 2,
) -> Path:
    """Write `obj` as JSON (pretty by default, one trailing newline), creating the folder.

    An infinite float is written as `Infinity` (Python's json default), so a perfect PSNR
    survives a round trip through `json.loads`. Failures raise `error` naming the path.
    """
    return _write_text(path, json.dumps(obj, indent=indent) + "\n", error)


def write_json_lines(
    path: str | os.PathLike[str],
    records: Iterable[Any],
    *,
    error: type[DeblurError] = DeblurError,
) -> Path:
    """Write one compact JSON document per line (the whole file at once, atomically)."""
    return _write_text(path, "".join(json.dumps(r) + "\n" for r in records), error)


def _write_text(path: str | os.PathLike[str], text: str, error: type[DeblurError]) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"{path}: cannot create its folder ({exc.strerror or exc})") from exc
    return atomic_write_bytes(path, text.encode("utf-8"), error)
