"""The local weights cache: where it is, the JSON index of the files it holds with their observed
sha256 (`<cache>/index.json`), hashing, and setting a rejected file aside instead of deleting it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RegistryError, WeightsError
from ..files import atomic_write_bytes
from .registry import WeightsEntry, read_text_file

HOME_ENV = "DEBLUR_HOME"
INDEX_NAME = "index.json"
CHUNK = 1 << 20
REJECTED = ".rejected-"  # `<file>.rejected-<UTC time>`: a cached file that failed verification


def cache_dir() -> Path:
    """Where weights are kept: `$DEBLUR_HOME/weights`, else `user_data_dir("deblur")/weights`."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "weights"
    from platformdirs import user_data_dir

    return Path(user_data_dir("deblur")) / "weights"


@dataclass(frozen=True)
class IndexRecord:
    """What the cache knows about one stored file."""

    name: str
    file: str  # file name inside the cache directory
    sha256: str
    size: int
    verified_by: str  # "sha256" or "structure"
    source: str  # registry source, or the imported file's original path
    model: str
    config: Mapping[str, Any]
    container: str
    added: str  # UTC, ISO 8601


_RECORD_TYPES: dict[str, type] = {
    "file": str,
    "sha256": str,
    "size": int,
    "verified_by": str,
    "source": str,
    "model": str,
    "config": dict,
    "container": str,
    "added": str,
}
assert set(_RECORD_TYPES) == {f.name for f in dataclasses.fields(IndexRecord)} - {"name"}


def _index_path(root: Path) -> Path:
    return root / INDEX_NAME


def _parse_record(name: str, rec: Any) -> IndexRecord:
    """One index entry, checked field by field (the index is a file users can edit)."""
    if not isinstance(rec, dict) or set(rec) != set(_RECORD_TYPES):
        raise ValueError(f"record '{name}' does not have the fields {', '.join(_RECORD_TYPES)}")
    wrong = [k for k, kind in _RECORD_TYPES.items() if not isinstance(rec[k], kind)]
    if wrong:
        raise ValueError(f"record '{name}': wrong type for {', '.join(wrong)}")
    # JSON has no tuples; configs hold them (FFTformer num_blocks)
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in rec["config"].items()}
    return IndexRecord(name=name, **{**rec, "config": config})


def read_index(root: Path | None = None) -> dict[str, IndexRecord]:
    """The cache index (empty if absent); a damaged index is an error, never silently reset."""
    path = _index_path(root or cache_dir())
    if not path.exists():
        return {}
    text = read_text_file(path, "cache index")
    try:
        raw = json.loads(text)
        files = raw.get("files") if isinstance(raw, dict) else None
        if not isinstance(files, dict):
            raise ValueError("no 'files' object")
        return {name: _parse_record(name, rec) for name, rec in files.items()}
    except ValueError as e:
        raise RegistryError(
            f"cache index {path} is damaged ({e}); move it aside to start a new one "
            "(registry weights are re-verified on next use, imported ones must be imported again)"
        ) from None


def write_index(root: Path, records: Mapping[str, IndexRecord]) -> None:
    files = {}
    for name, rec in sorted(records.items()):
        body = dataclasses.asdict(rec)
        del body["name"]
        body["config"] = dict(rec.config)
        files[name] = body
    payload = json.dumps({"version": 1, "files": files}, indent=2, sort_keys=True, default=list)
    atomic_write_bytes(_index_path(root), (payload + "\n").encode("utf-8"), WeightsError)


def record_file(
    root: Path, entry: WeightsEntry, path: Path, sha256: str, method: str, source: str
) -> IndexRecord:
    """Add (or replace) the index record of `entry`, stored as `path`."""
    records = read_index(root)
    records[entry.name] = record = IndexRecord(
        name=entry.name,
        file=path.name,
        sha256=sha256,
        size=path.stat().st_size,
        verified_by=method,
        source=source,
        model=entry.model,
        config=dict(entry.config),
        container=entry.container,
        added=utc_now(),
    )
    write_index(root, records)
    return record


def utc_now(compact: bool = False) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ" if compact else "%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(done)
    return digest.hexdigest()


def hash_into(digest: Any, path: Path) -> None:
    """Feed an existing file into `digest` (a resumed transfer hashes what is already there)."""
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)


def keep_aside(path: Path) -> Path:
    """Rename a cached file that failed verification to `<name>.rejected-<time>` and return it.

    It is never deleted: it may be the only copy of something the user wants to look at.
    """
    target = path.with_name(f"{path.name}{REJECTED}{utc_now(compact=True)}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{REJECTED}{utc_now(compact=True)}-{n}")
    try:
        os.replace(path, target)
    except OSError as e:
        raise WeightsError(f"cannot set {path} aside: {e.strerror or e}") from None
    return target
