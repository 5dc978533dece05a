"""`deblur weights download`: fetch registry weights into the cache, verified before they get their
final name (`<cache>/<entry name><suffix>`); a cached file is returned without a request.

A transfer goes to `<name><suffix>.part` (HTTP) or a gdown partial file beside it and resumes an
interrupted one. A cached file that no longer verifies is kept aside, reported, and replaced
only on the next explicit download.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import DeblurError
from .bundled import bundled_file
from .index import cache_dir, read_index, record_file, sha256_file
from .registry import WeightsEntry, get_entry, load_registry
from .results import DownloadReport, DownloadResult
from .transport import (
    DEFAULT_TIMEOUT,
    PART_SUFFIX,
    disk_error,
    fetch_gdrive,
    fetch_http,
    gdrive_folder_file,
    install,
)
from .verification import reverify_cached, verify_download

ProgressCallback = Callable[[str, int, "int | None"], None]
GDRIVE_STAGING = ".download"  # gdown writes `<staging>XXXXXXXX.part`, then renames to this


def make_cache_dir(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(root, e) from None


def partials(root: Path, cache_name: str) -> list[Path]:
    """Unfinished transfers and imports of the file `cache_name`."""
    return sorted(
        p for p in root.glob(cache_name + ".*") if p.name.endswith((PART_SUFFIX, GDRIVE_STAGING))
    )


def _cache_hit(root: Path, entry: WeightsEntry) -> DownloadResult | None:
    path = root / entry.cache_name
    record = read_index(root).get(entry.name)
    if not path.is_file() or record is None or record.file != path.name:
        return None
    if record.size != path.stat().st_size:
        return None  # changed since it was verified: re-verify
    if entry.sha256 is not None and record.sha256 != entry.sha256:
        return None  # the registry learnt the hash since: re-verify
    return DownloadResult(
        entry.name,
        path,
        record.size,
        record.sha256,
        record.verified_by,
        from_cache=True,
        resumed_from=0,
        record_hash=entry.sha256 is None,
    )


def _bundled_result(entry: WeightsEntry) -> DownloadResult:
    """Shipped weights are already here: no request, no copy into the cache."""
    path = bundled_file(entry)
    return DownloadResult(
        entry.name,
        path,
        path.stat().st_size,
        str(entry.sha256),
        "sha256",
        from_cache=True,
        resumed_from=0,
        record_hash=False,
    )


def _reverify(root: Path, entry: WeightsEntry, final: Path) -> DownloadResult:
    """A file under the final name the index does not vouch for: check it again, keep it aside
    (and raise) if it fails."""
    sha = sha256_file(final)
    method = reverify_cached(final, entry, sha)
    record_file(root, entry, final, sha, method, entry.source)
    return DownloadResult(
        entry.name,
        final,
        final.stat().st_size,
        sha,
        method,
        from_cache=True,
        resumed_from=0,
        record_hash=entry.sha256 is None,
    )


def _transfer(
    entry: WeightsEntry, final: Path, progress: ProgressCallback | None, timeout: float
) -> tuple[Path, int, str]:
    """Fetch the entry's source next to `final`; returns (partial file, resumed bytes, sha256)."""

    def report(done: int, total: int | None) -> None:
        if progress is not None:
            progress(entry.name, done, total)

    if entry.source.startswith(("http://", "https://")):
        part = final.with_name(final.name + PART_SUFFIX)
        resumed, sha = fetch_http(entry.source, part, report, timeout)
        return part, resumed, sha
    kind, _, ident = entry.source.partition(":")
    file_id = (
        gdrive_folder_file(ident, entry.file, timeout)[0] if kind == "gdrive-folder" else ident
    )
    part = final.with_name(final.name + GDRIVE_STAGING)
    resumed, sha = fetch_gdrive(file_id, part, report, timeout)
    return part, resumed, sha


def replace_in_cache(
    root: Path, entry: WeightsEntry, part: Path, final: Path, sha: str, method: str, source: str
) -> tuple[Path, ...]:
    """Rename a verified `part` to `final` and index it; the earlier file of the same name,
    if it had another file name, is deleted (never orphaned). Returns what was deleted."""
    previous = read_index(root).get(entry.name)
    install(part, final)
    record_file(root, entry, final, sha, method, source)
    old = root / previous.file if previous is not None else None
    if old is None or old == final or not old.is_file():
        return ()
    old.unlink()
    return (old,)


def download(
    name: str,
    progress: ProgressCallback | None = None,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> DownloadResult:
    """Fetch registry weights into the cache (or return the cached file without a request).

    `force` transfers again from scratch; the cached file is replaced only once the new one
    has been verified.
    """
    entry = get_entry(name)
    if entry.bundled_file is not None:
        return _bundled_result(entry)
    root = cache_dir()
    if not force and (hit := _cache_hit(root, entry)) is not None:
        return hit
    make_cache_dir(root)
    final = root / entry.cache_name
    if force:
        for stale in partials(root, entry.cache_name):
            stale.unlink(missing_ok=True)
    elif final.is_file():
        return _reverify(root, entry, final)
    part, resumed, sha = _transfer(entry, final, progress, timeout)
    method = verify_download(part, entry, sha)
    replace_in_cache(root, entry, part, final, sha, method, entry.source)
    return DownloadResult(
        entry.name,
        final,
        final.stat().st_size,
        sha,
        method,
        from_cache=False,
        resumed_from=resumed,
        record_hash=entry.sha256 is None,
    )


def download_many(
    names: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> DownloadReport:
    """`download NAME...` / `--all` (names=None): every name is tried; failures are collected."""
    names = list(load_registry()) if names is None else list(names)
    results, errors = [], []
    for name in names:
        try:
            results.append(download(name, progress=progress, force=force, timeout=timeout))
        except DeblurError as e:
            errors.append((name, str(e)))
    return DownloadReport(tuple(results), tuple(errors))
