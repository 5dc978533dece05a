"""What each weights operation returns (frozen dataclasses; `--json` serialises them as they are)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .index import IndexRecord
from .registry import WeightsEntry


@dataclass(frozen=True)
class WeightsStatus:
    entry: WeightsEntry
    path: Path | None  # the cached file, if any
    sha256: str | None  # as recorded in the index (bundled: the registry's)
    verified_by: str | None
    bundled: bool = False  # shipped inside the package (`path` is there, not in the cache)


@dataclass(frozen=True)
class WeightsList:
    cache_dir: Path
    registry: Path
    weights: tuple[WeightsStatus, ...]
    imported: tuple[IndexRecord, ...]  # cached files imported under names not in the registry


@dataclass(frozen=True)
class DownloadResult:
    name: str
    path: Path
    size: int
    sha256: str
    verified_by: str  # "sha256" or "structure"
    from_cache: bool  # no request was made
    resumed_from: int  # bytes already on disk when the transfer started
    record_hash: bool  # the registry says "unknown": add `sha256` to weights.toml


@dataclass(frozen=True)
class DownloadReport:
    results: tuple[DownloadResult, ...]
    errors: tuple[tuple[str, str], ...]  # (name, one-line message)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class CachedWeights:
    name: str
    path: Path
    sha256: str
    verified_by: str


@dataclass(frozen=True)
class VerifyResult:
    name: str
    path: Path | None
    ok: bool
    method: str  # "sha256", "structure" or "missing"
    expected_sha256: str | None
    observed_sha256: str | None
    message: str


@dataclass(frozen=True)
class VerifyReport:
    results: tuple[VerifyResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


@dataclass(frozen=True)
class ImportResult:
    name: str
    path: Path
    sha256: str
    size: int
    verified_by: str
    model: str
    config: Mapping[str, Any]
    record_hash: bool
    replaced: tuple[Path, ...] = ()  # files of the earlier weights of this name (--overwrite)


@dataclass(frozen=True)
class RemoveResult:
    name: str
    removed: tuple[Path, ...]
    freed_bytes: int


@dataclass(frozen=True)
class ResolvedWeights:
    path: Path
    entry: WeightsEntry | None  # None for a local file or a name imported without an entry
    name: str | None
    downloaded: DownloadResult | None = field(default=None)
    record: IndexRecord | None = None  # the cache index record of a registry or imported name
