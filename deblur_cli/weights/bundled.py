"""Weights shipped inside the package (`source = "bundled:<file>"`): found in
`deblur_cli/data/weights/`, never downloaded nor copied into the cache, checked against the
registry's sha256 once per process (the file cannot change under a running install)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import ChecksumMismatchError, WeightsError
from .index import sha256_file
from .registry import WeightsEntry

_REINSTALL = "reinstall deblur-cli (pip install --force-reinstall deblur-cli)"

# (path, size, mtime_ns, expected sha256) of files whose hash matched: hashing a few MB on every restore is
# cheap, but a batch calls this once per model load and the answer cannot change in between
_VERIFIED: set[tuple[str, int, int, str]] = set()


def bundled_dir() -> Path:
    """The package folder holding bundled weights (`deblur_cli/data/weights/`)."""
    return Path(str(resources.files("deblur_cli").joinpath("data").joinpath("weights")))


def bundled_path(entry: WeightsEntry) -> Path:
    """Where the entry's shipped file is, verified or not (for listings)."""
    if entry.bundled_file is None:
        raise WeightsError(f"weights '{entry.name}' are not bundled with deblur-cli")
    return bundled_dir() / entry.bundled_file


def bundled_file(entry: WeightsEntry) -> Path:
    """The entry's shipped file after its sha256 matched the registry's (once per process).

    Raises:
        WeightsError: the file is missing from the installed package.
        ChecksumMismatchError: the file is not the one the registry describes.
    """
    path = bundled_path(entry)
    try:
        stat = path.stat()
    except OSError:
        raise WeightsError(
            f"bundled weights '{entry.name}' are missing from the installed package ({path}); "
            + _REINSTALL
        ) from None
    key = (str(path), stat.st_size, stat.st_mtime_ns, entry.sha256 or "")
    if key in _VERIFIED:
        return path
    observed = sha256_file(path)
    if observed != entry.sha256:
        raise ChecksumMismatchError(
            f"bundled weights '{entry.name}' ({path}) have sha256 {observed[:12]}…, not the "
            f"registry's {str(entry.sha256)[:12]}… (the installed package is damaged); "
            + _REINSTALL
        )
    _VERIFIED.add(key)
    return path


def refuse_bundled(entry: WeightsEntry | None, action: str) -> None:
    """One-line error for cache operations that make no sense on shipped weights."""
    if entry is not None and entry.bundled_file is not None:
        raise WeightsError(
            f"weights '{entry.name}' are bundled with deblur-cli (they live in the package, "
            f"not in the cache) and cannot be {action}"
        )
