"""Atomic file writes: a temporary file beside the target, then a rename over it."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from ..errors import DeblurError


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, error: type[DeblurError] = DeblurError
) -> Path:
    """Write `data` to `path` so that readers never see a partial file.

    On any failure the temporary file is removed, the previous content of `path` (if any) is
    left untouched, and an `error` naming the path is raised (folder missing or not writable,
    disk full, `path` is a folder).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # os.open with 0o666 lets the umask decide the final permissions, as for a plain open().
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise error(f"{path}: cannot write ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise error(f"{path}: cannot write ({exc.strerror or exc})") from exc
        raise
    return path
