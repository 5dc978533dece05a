"""Is a file the one a registry entry describes? By its sha256 when the registry knows it, else
structurally: a strict key/shape match against the entry's model (through `checkpoints`, which
brings torch, so it is imported only when a file is read: `weights list` and `path` start fast)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import (
    ArchitectureMismatchError,
    ChecksumMismatchError,
    UnknownArchitectureError,
    WeightsError,
)
from .index import keep_aside
from .registry import WeightsEntry


def check_structure(path: Path, model: str, config: Mapping[str, Any], container: str) -> None:
    """Strict key/shape match of the file against `model` at `config` (the aux-key rule applies).

    A file of another architecture says which one it holds, not only which keys differ.
    """
    from ..checkpoints import (
        check_architecture,
        describe,
        guess_architecture,
        read_checkpoint,
        same_network,
        shapes_of,
    )

    shapes = shapes_of(read_checkpoint(path, container).state_dict)
    try:
        found = guess_architecture(shapes)
    except UnknownArchitectureError:
        found = None  # the strict check names the keys that differ
    if found is not None and not same_network(found.model, model):
        raise ArchitectureMismatchError(
            f"the file holds {found.describe()}, not {describe(model, dict(config))}"
        )
    check_architecture(shapes, model, config)


def check_entry(path: Path, entry: WeightsEntry, sha256: str) -> str:
    """Raise unless `path` (whose hash is `sha256`) is the entry's file; returns the method."""
    if entry.sha256 is not None:
        if sha256 != entry.sha256:
            raise ChecksumMismatchError(
                f"sha256 {sha256} does not match the registry's {entry.sha256}"
            )
        return "sha256"
    check_structure(path, entry.model, entry.config, entry.container)
    return "structure"


def verify_download(path: Path, entry: WeightsEntry, sha256: str) -> str:
    """`check_entry` for freshly transferred data: a bad transfer is deleted (it is ours)."""
    try:
        return check_entry(path, entry, sha256)
    except WeightsError as e:
        path.unlink(missing_ok=True)
        raise type(e)(f"{entry.name}: {e}; the downloaded file was deleted") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def reverify_cached(path: Path, entry: WeightsEntry, sha256: str) -> str:
    """`check_entry` for a file already under its final name: one that fails is kept aside.

    The error names where it went; the next download fetches a fresh copy.
    """
    try:
        return check_entry(path, entry, sha256)
    except WeightsError as e:
        kept = keep_aside(path)
        raise type(e)(
            f"{entry.name}: the cached file failed verification ({e}); it was kept as {kept}, "
            f"run `deblur weights download {entry.name}` to fetch a fresh copy"
        ) from None
