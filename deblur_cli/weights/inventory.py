"""What the cache holds: `list`, `path`, `verify` and `remove`, over registry names and names
imported without a registry entry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import DeblurError, NotCachedError, UnknownWeightsError, WeightsError
from .bundled import bundled_file, bundled_path, refuse_bundled
from .downloads import partials
from .index import REJECTED, IndexRecord, cache_dir, read_index, sha256_file, write_index
from .registry import (
    CHECKPOINT_SUFFIXES,
    WeightsEntry,
    load_registry,
    registry_path,
    unknown_message,
)
from .results import (
    CachedWeights,
    RemoveResult,
    VerifyReport,
    VerifyResult,
    WeightsList,
    WeightsStatus,
)
from .verification import check_structure


def list_weights() -> WeightsList:
    """`list`: every registry entry with its cache state, plus names imported without an entry."""
    registry = load_registry()
    root = cache_dir()
    index = read_index(root)
    rows = []
    for entry in registry.values():
        if entry.bundled_file is not None:
            rows.append(_bundled_status(entry))
            continue
        rec = index.get(entry.name)
        path = root / rec.file if rec is not None and (root / rec.file).is_file() else None
        rows.append(
            WeightsStatus(
                entry, path, rec.sha256 if rec else None, rec.verified_by if rec else None
            )
        )
    imported = tuple(rec for name, rec in index.items() if name not in registry)
    return WeightsList(root, registry_path(), tuple(rows), imported)


def _bundled_status(entry: WeightsEntry) -> WeightsStatus:
    """A shipped file is listed as present without hashing it (`verify` hashes it)."""
    path = bundled_path(entry)
    return WeightsStatus(entry, path if path.is_file() else None, entry.sha256, None, True)


def weights_by_model() -> dict[str, tuple[str, ...]]:
    """Model name -> weights names built as it: the registry's, then those imported by name."""
    found: dict[str, list[str]] = {}
    registry = load_registry()
    for name, entry in registry.items():
        found.setdefault(entry.model, []).append(name)
    for name, rec in read_index().items():
        if name not in registry:
            found.setdefault(rec.model, []).append(name)
    return {model: tuple(names) for model, names in found.items()}


def locate(name: str) -> CachedWeights:
    """`path NAME`: the cached file of `name` (registry or imported), or the file shipped in
    the package for bundled weights (checked by sha256); no download."""
    registry = load_registry()
    entry = registry.get(name)
    if entry is not None and entry.bundled_file is not None:
        return CachedWeights(name, bundled_file(entry), str(entry.sha256), "sha256")
    root = cache_dir()
    index = read_index(root)
    record = index.get(name)
    if record is not None and (root / record.file).is_file():
        return CachedWeights(name, root / record.file, record.sha256, record.verified_by)
    if name not in registry and record is None:
        raise UnknownWeightsError(unknown_message(name, [*registry, *index]))
    raise NotCachedError(
        f"weights '{name}' are not downloaded yet (run `deblur weights download {name}`)"
    )


def _verify_bundled(entry: WeightsEntry) -> VerifyResult:
    expected = entry.sha256
    try:
        path = bundled_file(entry)
    except WeightsError as e:
        found = bundled_path(entry)
        present = found.is_file()
        observed = sha256_file(found) if present else None
        method = "sha256" if present else "missing"
        return VerifyResult(
            entry.name, found if present else None, False, method, expected, observed, str(e)
        )
    msg = "sha256 matches the registry (bundled with deblur-cli)"
    return VerifyResult(entry.name, path, True, "sha256", expected, expected, msg)


def _verify_one(
    name: str, entry: WeightsEntry | None, record: IndexRecord | None, root: Path
) -> VerifyResult:
    if entry is not None and entry.bundled_file is not None:
        return _verify_bundled(entry)
    expected = entry.sha256 if entry is not None else None
    path = root / record.file if record is not None else None
    if record is None or path is None or not path.is_file():
        return VerifyResult(name, None, False, "missing", expected, None, "not downloaded")
    observed = sha256_file(path)
    if expected is not None:
        ok = observed == expected
        msg = "sha256 matches the registry" if ok else f"sha256 {observed} != registry {expected}"
        return VerifyResult(name, path, ok, "sha256", expected, observed, msg)
    described = entry if entry is not None else record
    try:
        check_structure(path, described.model, described.config, described.container)
    except DeblurError as e:
        return VerifyResult(name, path, False, "structure", record.sha256, observed, str(e))
    if record.sha256 != observed:
        msg = f"structure ok but sha256 changed since it was recorded ({record.sha256})"
        return VerifyResult(name, path, False, "structure", record.sha256, observed, msg)
    msg = "strict key/shape match"
    return VerifyResult(name, path, True, "structure", record.sha256, observed, msg)


def verify(names: Sequence[str] | None = None) -> VerifyReport:
    """`verify [NAME...]`: re-hash cached files; structural check where no hash is known.

    None checks every registry entry that is cached or bundled, plus imported files. A
    mismatching file is reported, not moved or deleted (it may be a deliberate local import).
    """
    registry = load_registry()
    root = cache_dir()
    index = read_index(root)
    if names is None:
        present = [n for n, e in registry.items() if n in index or e.bundled_file is not None]
        names = present + [n for n in index if n not in registry]
    for name in names:
        if name not in registry and name not in index:
            raise UnknownWeightsError(unknown_message(name, [*registry, *index]))
    return VerifyReport(tuple(_verify_one(n, registry.get(n), index.get(n), root) for n in names))


def files_of(
    name: str, root: Path, registry: Mapping[str, WeightsEntry], index: Mapping[str, IndexRecord]
) -> list[Path]:
    """Every cache file that belongs to `name`: its indexed file, its registry file name, its
    partial transfers, copies set aside after a failed verification, and `<name><suffix>` files no other record claims (left by an import over
    the name with another suffix before that was refused)."""
    claimed = {rec.file for other, rec in index.items() if other != name}
    claimed |= {entry.cache_name for other, entry in registry.items() if other != name}
    targets: list[Path] = []
    if name in index:
        targets.append(root / index[name].file)
    cache_names = [name + suffix for suffix in CHECKPOINT_SUFFIXES]
    if name in registry:
        cache_names.insert(0, registry[name].cache_name)
    for cache_name in dict.fromkeys(cache_names):
        targets.append(root / cache_name)
        targets += partials(root, cache_name)
        targets += sorted(root.glob(cache_name + REJECTED + "*"))
    return [p for p in dict.fromkeys(targets) if p.name not in claimed and p.is_file()]


def remove(name: str) -> RemoveResult:
    """`remove NAME`: delete the cached file, its partial downloads and its index record."""
    root = cache_dir()
    registry = load_registry()
    index = read_index(root)
    if name not in registry and name not in index:
        raise UnknownWeightsError(unknown_message(name, [*registry, *index]))
    refuse_bundled(registry.get(name), "removed")
    removed, freed = [], 0
    for path in files_of(name, root, registry, index):
        size = path.stat().st_size
        try:
            path.unlink()
        except OSError as e:
            raise WeightsError(f"cannot remove {path}: {e.strerror or e}") from None
        removed.append(path)
        freed += size
    if name in index:
        del index[name]
        write_index(root, index)
    return RemoveResult(name, tuple(removed), freed)
