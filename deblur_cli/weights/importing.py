"""`deblur weights import FILE --name NAME`: copy a local checkpoint into the cache after checking
it. A registry name is verified like a download (sha256, else strict structure); a new name is
accepted when its architecture is detected and matches strictly. The user's file is never
changed; existing weights of the same name are replaced only with `overwrite`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import ChecksumMismatchError, DeblurError, WeightsError, WeightsExistError
from .bundled import refuse_bundled
from .downloads import ProgressCallback, make_cache_dir, replace_in_cache
from .index import CHUNK, cache_dir, read_index
from .registry import UNKNOWN, WeightsEntry, checkpoint_suffix, is_valid_name, load_registry
from .results import ImportResult
from .transport import PART_SUFFIX, disk_error, open_partial
from .verification import check_structure

IMPORT_PART = ".import" + PART_SUFFIX


def _refuse_existing(name: str, root: Path, final: Path, overwrite: bool) -> tuple[Path, ...]:
    """The files `name` already has in the cache; an error unless `overwrite`."""
    record = read_index(root).get(name)
    candidates = (root / record.file if record else None, final)
    held = tuple(dict.fromkeys(p for p in candidates if p is not None and p.is_file()))
    if held and not overwrite:
        model = f"{record.model}, " if record is not None else ""
        raise WeightsExistError(
            f"weights '{name}' already exist ({model}{held[0]}); pass --overwrite to replace "
            "them, or choose another --name"
        )
    return held


def _entry_for_new_name(source: Path, name: str) -> WeightsEntry:
    """A registry-like entry for a name the registry does not know, from the detected model."""
    from ..checkpoints import detect_architecture, read_checkpoint, shapes_of  # torch: start-up

    ckpt = read_checkpoint(source)
    detection = detect_architecture(shapes_of(ckpt.state_dict))
    return WeightsEntry(
        name=name,
        model=detection.model,
        config=detection.config,
        dataset=UNKNOWN,
        source=str(source.resolve()),
        url=UNKNOWN,
        page=UNKNOWN,
        file=source.name,
        sha256=None,
        container=ckpt.container,
        aux_head_keys=bool(detection.training_keys),
        paper_psnr=None,
        paper_ssim=None,
        reported=UNKNOWN,
        licence=UNKNOWN,
        citation=UNKNOWN,
        notes="imported",
    )


def _check_for_registry_name(source: Path, entry: WeightsEntry) -> None:
    """Structural check of the user's file against a registry entry, before anything is copied."""
    try:
        check_structure(source, entry.model, entry.config, entry.container)
    except DeblurError as e:
        raise type(e)(f"{e}; not imported as '{entry.name}'") from None


def _copy(source: Path, part: Path, name: str, progress: ProgressCallback | None) -> str:
    """Copy `source` to `part` while hashing it; returns the sha256."""
    total = source.stat().st_size
    digest = hashlib.sha256()
    done = 0
    try:
        with source.open("rb") as src, open_partial(part, append=False) as out:
            for block in iter(lambda: src.read(CHUNK), b""):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress is not None:
                    progress(name, done, total)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise disk_error(part, e) from None
    return digest.hexdigest()


def import_weights(
    file: str | os.PathLike[str],
    name: str,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
) -> ImportResult:
    """Copy a local checkpoint into the cache under `name` after verifying it.

    Raises WeightsExistError when `name` already has a cached file and `overwrite` is off; with
    it, the earlier file is deleted once the new one is in place (even under another suffix).
    """
    source = Path(file)
    if not source.is_file():
        raise WeightsError(f"{source}: no such file")
    registered = load_registry().get(name)
    refuse_bundled(registered, "replaced by an import (choose another --name)")
    if registered is None and not is_valid_name(name):
        raise WeightsError(f"invalid weights name '{name}' (letters, digits, '.', '_', '-')")
    root = cache_dir()
    cache_name = registered.cache_name if registered else name + checkpoint_suffix(source.name)
    final = root / cache_name
    earlier = _refuse_existing(name, root, final, overwrite)
    if registered is None:
        entry = _entry_for_new_name(source, name)
    else:
        entry = registered
        if entry.sha256 is None:
            _check_for_registry_name(source, entry)
    make_cache_dir(root)
    part = final.with_name(final.name + IMPORT_PART)
    sha = _copy(source, part, name, progress)
    if entry.sha256 is not None and sha != entry.sha256:
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"sha256 {sha} does not match the registry's {entry.sha256}; not imported as '{name}'"
        )
    method = "sha256" if entry.sha256 is not None else "structure"
    replace_in_cache(root, entry, part, final, sha, method, str(source.resolve()))
    return ImportResult(
        name,
        final,
        sha,
        final.stat().st_size,
        method,
        entry.model,
        dict(entry.config),
        entry.sha256 is None,
        earlier,
    )
