"""Pretrained weights: the registry (`data/weights.toml`), the local cache and its index of
observed hashes, and downloads that resume and never leave a partial file under a final name.

Cache: `platformdirs.user_data_dir("deblur")/weights`, or `$DEBLUR_HOME/weights`. A file gets
its final name (`<cache>/<entry name><suffix>`) only after it was verified: by its sha256 when
the registry knows it, else structurally (strict key/shape match against the entry's model) with
the observed sha256 recorded in `<cache>/index.json` so it can be added to `weights.toml`.

Each public function backs one `deblur weights` subcommand and returns a frozen dataclass.
Progress goes through a `progress(name, bytes_done, bytes_total)` callback; nothing here prints.
torch is imported only when a file has to be checked structurally.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import hashlib
import http.client
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from . import __version__
from .errors import WeightsError
from .files import atomic_write_bytes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ProgressCallback = Callable[[str, int, "int | None"], None]

REGISTRY_ENV = "DEBLUR_WEIGHTS_REGISTRY"
HOME_ENV = "DEBLUR_HOME"
UNKNOWN = "unknown"
INDEX_NAME = "index.json"
PART_SUFFIX = ".part"
CHUNK = 1 << 20
DEFAULT_TIMEOUT = 60.0

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # also a file name in the cache
_SOURCE = re.compile(r"^(gdrive:|gdrive-folder:|https?://)")
_CONTAINERS = ("params", "params_ema", "state_dict", "plain")
_CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")


class RegistryError(WeightsError):
    """A malformed weights registry file."""


class UnknownWeightsError(WeightsError):
    """A name that is neither in the registry nor imported into the cache."""


class DownloadError(WeightsError):
    """Host unreachable, HTTP error or interrupted transfer (the partial file is kept)."""


class ChecksumMismatchError(WeightsError):
    """The downloaded or imported file is not the one the registry describes (it was deleted)."""


class NotCachedError(WeightsError):
    """The weights are not in the cache yet."""


# ---------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class WeightsEntry:
    """One published checkpoint (fields as documented at the top of weights.toml)."""

    name: str
    model: str
    config: Mapping[str, Any]
    dataset: str
    source: str
    url: str
    page: str
    file: str | None  # None: "unknown", resolved from the Drive folder listing
    sha256: str | None  # None: "unknown", verified structurally
    container: str
    aux_head_keys: bool
    paper_psnr: float | None
    paper_ssim: float | None
    reported: str
    licence: str
    citation: str
    notes: str

    @property
    def suffix(self) -> str:
        suffix = Path(self.file).suffix if self.file else ""
        return suffix if suffix in _CHECKPOINT_SUFFIXES else ".pth"

    @property
    def cache_name(self) -> str:
        return self.name + self.suffix


_FIELDS = {f.name for f in dataclasses.fields(WeightsEntry)}


def registry_path() -> Path:
    """`$DEBLUR_WEIGHTS_REGISTRY` if set, else the packaged `deblur_cli/data/weights.toml`."""
    override = os.environ.get(REGISTRY_ENV)
    if override:
        return Path(override)
    return Path(str(resources.files("deblur_cli").joinpath("data").joinpath("weights.toml")))


def _optional(value: Any, kind: type, where: str) -> Any:
    if value == UNKNOWN:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind):
        raise RegistryError(f'{where}: expected {kind.__name__} or "unknown", got {value!r}')
    return value


def _parse_entry(raw: Mapping[str, Any], where: str) -> WeightsEntry:
    unknown = sorted(set(raw) - _FIELDS)
    missing = sorted(_FIELDS - set(raw))
    if unknown or missing:
        detail = "; ".join(
            s
            for s in (
                unknown and f"unknown field(s) {', '.join(unknown)}",
                missing and f"missing {', '.join(missing)}",
            )
            if s
        )
        raise RegistryError(f"{where}: {detail}")
    if not isinstance(raw["name"], str) or not _NAME.match(raw["name"]):
        raise RegistryError(f"{where}: name must be letters, digits, '.', '_' or '-'")
    sha = raw["sha256"].lower() if isinstance(raw["sha256"], str) else raw["sha256"]
    if sha != UNKNOWN and not (isinstance(sha, str) and _SHA256.match(sha)):
        raise RegistryError(f'{where}: sha256 must be 64 hex digits or "unknown"')
    if not isinstance(raw["source"], str) or not _SOURCE.match(raw["source"]):
        raise RegistryError(
            f"{where}: source must start with gdrive:, gdrive-folder: or http(s)://"
        )
    if raw["container"] not in _CONTAINERS:
        raise RegistryError(f"{where}: container must be one of {', '.join(_CONTAINERS)}")
    if not isinstance(raw["config"], Mapping):
        raise RegistryError(f"{where}: config must be a table")
    return WeightsEntry(
        name=raw["name"],
        model=raw["model"],
        config=dict(raw["config"]),
        dataset=raw["dataset"],
        source=raw["source"],
        url=raw["url"],
        page=raw["page"],
        file=_optional(raw["file"], str, f"{where}.file"),
        sha256=None if sha == UNKNOWN else sha,
        container=raw["container"],
        aux_head_keys=bool(raw["aux_head_keys"]),
        paper_psnr=_optional(raw["paper_psnr"], float, f"{where}.paper_psnr"),
        paper_ssim=_optional(raw["paper_ssim"], float, f"{where}.paper_ssim"),
        reported=raw["reported"],
        licence=raw["licence"],
        citation=raw["citation"],
        notes=raw["notes"],
    )


def load_registry(path: str | os.PathLike[str] | None = None) -> dict[str, WeightsEntry]:
    """Parse a registry file (default: `registry_path()`); unknown or missing fields are errors."""
    path = Path(path) if path is not None else registry_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RegistryError(f"cannot read weights registry {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise RegistryError(f"{path}: {e}") from None
    extra = sorted(set(data) - {"weights"})
    if extra:
        raise RegistryError(f"{path}: unknown top-level key(s) {', '.join(extra)}")
    entries: dict[str, WeightsEntry] = {}
    for i, raw in enumerate(data.get("weights", [])):
        entry = _parse_entry(raw, f"{path.name} [[weights]] #{i + 1}")
        if entry.name in entries:
            raise RegistryError(f"{path}: duplicate weights name '{entry.name}'")
        entries[entry.name] = entry
    return entries


def get_entry(name: str, registry: Mapping[str, WeightsEntry] | None = None) -> WeightsEntry:
    """The registry entry `name`; an unknown name suggests the closest one."""
    registry = load_registry() if registry is None else registry
    if name in registry:
        return registry[name]
    raise UnknownWeightsError(_unknown_message(name, list(registry)))


def _unknown_message(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown weights '{name}'{hint} (see `deblur weights list`)"


# ---------------------------------------------------------------------------------------------
# cache and index


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


def _index_path(root: Path) -> Path:
    return root / INDEX_NAME


def read_index(root: Path | None = None) -> dict[str, IndexRecord]:
    """The cache index (empty if absent); a damaged index is an error, not silently reset."""
    path = _index_path(root or cache_dir())
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        records = {}
        for name, rec in raw.get("files", {}).items():
            # JSON has no tuples; configs hold them (FFTformer num_blocks)
            config = {
                k: tuple(v) if isinstance(v, list) else v for k, v in rec.pop("config").items()
            }
            records[name] = IndexRecord(name=name, config=config, **rec)
        return records
    except (OSError, ValueError, TypeError) as e:
        raise WeightsError(
            f"cache index {path} is unreadable ({e}); delete it to rebuild"
        ) from None


def _write_index(root: Path, records: Mapping[str, IndexRecord]) -> None:
    files = {}
    for name, rec in sorted(records.items()):
        body = dict(rec.__dict__)
        del body["name"]
        body["config"] = dict(rec.config)
        files[name] = body
    payload = json.dumps({"version": 1, "files": files}, indent=2, sort_keys=True, default=list)
    _atomic_write_text(_index_path(root), payload + "\n")


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), WeightsError)


def observed_hashes(root: Path | None = None) -> dict[str, str]:
    """sha256 of cached files the registry lists as "unknown": the values to add to weights.toml."""
    registry = load_registry()
    return {
        name: rec.sha256
        for name, rec in read_index(root).items()
        if name in registry and registry[name].sha256 is None
    }


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class WeightsStatus:
    entry: WeightsEntry
    path: Path | None  # the cached file, if any
    sha256: str | None  # as recorded in the index
    verified_by: str | None


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


# ---------------------------------------------------------------------------------------------
# verification


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


def _check_structure(path: Path, model: str, config: Mapping[str, Any], container: str) -> None:
    from .checkpoints import check_architecture, read_checkpoint, shapes_of

    ckpt = read_checkpoint(path, container)
    check_architecture(shapes_of(ckpt.state_dict), model, config)


def _verify_file(path: Path, entry: WeightsEntry, sha256: str, label: str) -> str:
    """Raise (after deleting `path`) unless the file is the entry's; returns the method used."""
    try:
        if entry.sha256 is not None:
            if sha256 != entry.sha256:
                raise ChecksumMismatchError(
                    f"{label}: sha256 {sha256} does not match the registry's {entry.sha256}; "
                    "the file was deleted"
                )
            return "sha256"
        try:
            _check_structure(path, entry.model, entry.config, entry.container)
        except WeightsError as e:
            raise type(e)(f"{label}: {e} (the file was deleted)") from None
        return "structure"
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _record(
    root: Path, entry: WeightsEntry, path: Path, sha256: str, method: str, source: str
) -> None:
    records = read_index(root)
    records[entry.name] = IndexRecord(
        name=entry.name,
        file=path.name,
        sha256=sha256,
        size=path.stat().st_size,
        verified_by=method,
        source=source,
        model=entry.model,
        config=dict(entry.config),
        container=entry.container,
        added=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    _write_index(root, records)


# ---------------------------------------------------------------------------------------------
# transfers: both write to a partial file in the cache dir and return its sha256


def _open_partial(path: Path, append: bool) -> BinaryIO:
    """Opened through this one function so tests can simulate a failing disk."""
    return path.open("ab" if append else "wb")


def _disk_error(path: Path, e: OSError) -> WeightsError:
    reason = os.strerror(e.errno) if e.errno else str(e)
    return WeightsError(f"cannot write {path}: {reason}")


def _hash_existing(path: Path, digest: Any) -> None:
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)


def _fetch_http(
    url: str, part: Path, report: Callable[[int, int | None], None], timeout: float
) -> tuple[int, str]:
    """Download `url` into `part`, resuming it with a Range request.

    Returns (bytes already on disk when the transfer started, sha256 of the whole file).
    """
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"deblur/{__version__}", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    host = urllib.parse.urlsplit(url).netloc
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and start:  # our partial file is no prefix of theirs: start over
            part.unlink(missing_ok=True)
            return _fetch_http(url, part, report, timeout)
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"cannot reach {host}: {getattr(e, 'reason', e)}") from None
    digest = hashlib.sha256()
    with response:
        if start and response.status == 206:
            if not (response.headers.get("Content-Range") or "").startswith(f"bytes {start}-"):
                raise DownloadError(f"{url}: the server answered the resume with another range")
            _hash_existing(part, digest)
        else:  # a fresh transfer, or the server ignored the range (200): start over
            start = 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        done = start
        try:
            out = _open_partial(part, append=start > 0)
        except OSError as e:
            raise _disk_error(part, e) from None
        with out:
            report(done, total)
            while True:
                try:
                    block = response.read(CHUNK)
                except (http.client.HTTPException, OSError) as e:
                    raise DownloadError(
                        f"{url}: transfer interrupted after {done} of {total or '?'} bytes "
                        f"({type(e).__name__}); run again to resume"
                    ) from None
                if not block:
                    break
                try:
                    out.write(block)
                except OSError as e:
                    out.close()
                    part.unlink(missing_ok=True)
                    raise _disk_error(part, e) from None
                digest.update(block)
                done += len(block)
                report(done, total)
    if total is not None and done < total:
        raise DownloadError(
            f"{url}: transfer interrupted after {done} of {total} bytes; run again to resume"
        )
    return start, digest.hexdigest()


def _gdrive_folder_file(folder_id: str, wanted: str | None, timeout: float) -> tuple[str, str]:
    """(file id, file name) of `wanted` in a public Drive folder, from gdown's folder listing."""
    import gdown

    try:
        listing = gdown.download_folder(
            id=folder_id, skip_download=True, quiet=True, use_cookies=False, timeout=timeout
        )
    except Exception as e:  # gdown raises requests/gdown errors of many kinds
        raise DownloadError(
            f"cannot list Google Drive folder {folder_id}: {_one_line(e)}"
        ) from None
    files = [(f.id, Path(f.path).name) for f in listing or []]
    if wanted is not None:
        for file_id, name in files:
            if name == wanted:
                return file_id, name
        raise DownloadError(
            f"Google Drive folder {folder_id} has no file '{wanted}' (it has: {', '.join(n for _, n in files) or 'nothing'})"
        )
    checkpoints = [(i, n) for i, n in files if n.endswith(_CHECKPOINT_SUFFIXES)]
    if len(checkpoints) == 1:
        return checkpoints[0]
    raise DownloadError(
        f"Google Drive folder {folder_id} holds {len(checkpoints)} checkpoint files "
        f"({', '.join(n for _, n in checkpoints) or 'none'}); download one by hand and use "
        "`deblur weights import FILE --name NAME`"
    )


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:300] if text else type(e).__name__


def _fetch_gdrive(
    file_id: str, staging: Path, report: Callable[[int, int | None], None], timeout: float
) -> tuple[int, str]:
    """Download a Drive file to `staging` with gdown; returns (resume offset, sha256).

    gdown handles Drive's large-file confirmation page (an HTML form whose format Google
    changes every few years; gdown follows it, hand-written scraping would rot) and resumes
    from its own `<staging>XXXXXXXX.part` file with a Range request.
    """
    digest = hashlib.sha256()
    if staging.is_file():  # completed by an earlier run that stopped before verifying
        _hash_existing(staging, digest)
        return staging.stat().st_size, digest.hexdigest()
    import gdown
    import requests

    start = max(
        (p.stat().st_size for p in staging.parent.glob(staging.name + "*" + PART_SUFFIX)), default=0
    )
    try:
        gdown.download(
            id=file_id,
            output=str(staging),
            quiet=True,
            use_cookies=False,
            resume=True,
            progress=report,
            hasher=digest,
            timeout=(timeout, timeout),
        )
    except gdown.exceptions.FileURLRetrievalError as e:  # private file, quota, wrong id
        raise DownloadError(
            f"Google Drive file {file_id}: no download link ({_one_line(e)})"
        ) from None
    except requests.HTTPError as e:
        raise DownloadError(
            f"Google Drive file {file_id}: HTTP {e.response.status_code if e.response is not None else '?'}"
        ) from None
    except (requests.ConnectionError, requests.Timeout) as e:
        raise DownloadError(f"cannot reach drive.google.com: {_one_line(e)}") from None
    except (gdown.exceptions.DownloadError, requests.RequestException) as e:  # cut short
        raise DownloadError(
            f"Google Drive file {file_id}: {_one_line(e)}; run again to resume"
        ) from None
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise _disk_error(staging, e) from None
        raise DownloadError(f"Google Drive file {file_id}: {_one_line(e)}") from None
    return start, digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# operations


def _cached_path(root: Path, entry: WeightsEntry) -> Path:
    return root / entry.cache_name


def _partials(root: Path, entry: WeightsEntry) -> list[Path]:
    base = entry.cache_name
    return sorted(p for p in root.glob(base + ".*") if p.name.endswith((PART_SUFFIX, ".download")))


def _cache_hit(root: Path, entry: WeightsEntry) -> DownloadResult | None:
    path = _cached_path(root, entry)
    record = read_index(root).get(entry.name)
    if not path.is_file() or record is None or record.size != path.stat().st_size:
        return None
    if entry.sha256 is not None and record.sha256 != entry.sha256:
        return None  # the registry learnt the hash since: re-verify
    return DownloadResult(
        entry.name,
        path,
        record.size,
        record.sha256,
        record.verified_by,
        True,
        0,
        entry.sha256 is None,
    )


def download(
    name: str,
    progress: ProgressCallback | None = None,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> DownloadResult:
    """Fetch registry weights into the cache (or return the cached file without a request).

    The transfer goes to `<name><suffix>.part` (HTTP) or a gdown partial file beside it, resumes
    an interrupted one, is verified, and is then renamed into place: a file under the final
    name is always complete and verified.
    """
    entry = get_entry(name)
    root = cache_dir()
    if not force and (hit := _cache_hit(root, entry)) is not None:
        return hit
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _disk_error(root, e) from None
    final = _cached_path(root, entry)
    if force:
        for stale in (final, *_partials(root, entry)):
            stale.unlink(missing_ok=True)
    elif final.is_file():  # present but not indexed (or the registry hash changed): re-verify
        sha = sha256_file(final)
        try:
            method = _verify_file(final, entry, sha, entry.name)  # deletes a bad file
        except WeightsError:
            pass
        else:
            _record(root, entry, final, sha, method, entry.source)
            return DownloadResult(
                entry.name, final, final.stat().st_size, sha, method, True, 0, entry.sha256 is None
            )

    def report(done: int, total: int | None) -> None:
        if progress is not None:
            progress(entry.name, done, total)

    if entry.source.startswith(("http://", "https://")):
        part = final.with_name(final.name + PART_SUFFIX)
        resumed, sha = _fetch_http(entry.source, part, report, timeout)
    else:
        kind, _, ident = entry.source.partition(":")
        file_id = (
            _gdrive_folder_file(ident, entry.file, timeout)[0] if kind == "gdrive-folder" else ident
        )
        part = final.with_name(final.name + ".download")
        resumed, sha = _fetch_gdrive(file_id, part, report, timeout)
    method = _verify_file(part, entry, sha, entry.name)
    try:
        os.replace(part, final)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise _disk_error(final, e) from None
    _record(root, entry, final, sha, method, entry.source)
    return DownloadResult(
        entry.name, final, final.stat().st_size, sha, method, False, resumed, entry.sha256 is None
    )


def download_many(
    names: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> DownloadReport:
    """`download NAME...` / `--all` (names=None): every name is tried; failures are collected."""
    registry = load_registry()
    names = list(registry) if names is None else list(names)
    results, errors = [], []
    for name in names:
        try:
            results.append(download(name, progress=progress, force=force, timeout=timeout))
        except WeightsError as e:
            errors.append((name, str(e)))
    return DownloadReport(tuple(results), tuple(errors))


def list_weights() -> WeightsList:
    """`list`: every registry entry with its cache state, plus names imported without an entry."""
    registry = load_registry()
    root = cache_dir()
    index = read_index(root)
    rows = []
    for entry in registry.values():
        rec = index.get(entry.name)
        path = root / rec.file if rec is not None and (root / rec.file).is_file() else None
        rows.append(
            WeightsStatus(
                entry, path, rec.sha256 if rec else None, rec.verified_by if rec else None
            )
        )
    imported = tuple(rec for name, rec in index.items() if name not in registry)
    return WeightsList(root, registry_path(), tuple(rows), imported)


def locate(name: str) -> CachedWeights:
    """`path NAME`: the cached file of `name` (registry or imported); no download."""
    root = cache_dir()
    index = read_index(root)
    record = index.get(name)
    if record is not None and (root / record.file).is_file():
        return CachedWeights(name, root / record.file, record.sha256, record.verified_by)
    registry = load_registry()
    if name not in registry and record is None:
        raise UnknownWeightsError(_unknown_message(name, [*registry, *index]))
    raise NotCachedError(
        f"weights '{name}' are not downloaded yet (run `deblur weights download {name}`)"
    )


def verify(names: Sequence[str] | None = None) -> VerifyReport:
    """`verify [NAME...]`: re-hash cached files; structural check where no hash is known.

    None checks every registry entry that is cached plus imported files. A mismatching file is
    reported, not deleted (it may be a deliberate local import).
    """
    registry = load_registry()
    root = cache_dir()
    index = read_index(root)
    if names is None:
        names = [n for n in registry if n in index] + [n for n in index if n not in registry]
    results = []
    for name in names:
        entry = registry.get(name)
        record = index.get(name)
        if entry is None and record is None:
            raise UnknownWeightsError(_unknown_message(name, [*registry, *index]))
        path = root / record.file if record is not None else None
        if path is None or not path.is_file():
            results.append(
                VerifyResult(
                    name,
                    None,
                    False,
                    "missing",
                    entry.sha256 if entry else None,
                    None,
                    "not downloaded",
                )
            )
            continue
        observed = sha256_file(path)
        expected = entry.sha256 if entry is not None else None
        if expected is not None:
            ok = observed == expected
            msg = (
                "sha256 matches the registry" if ok else f"sha256 {observed} != registry {expected}"
            )
            results.append(VerifyResult(name, path, ok, "sha256", expected, observed, msg))
            continue
        model, config, container = (
            (entry.model, entry.config, entry.container)
            if entry
            else (record.model, record.config, record.container)
        )
        try:
            _check_structure(path, model, config, container)
            ok, msg = True, "strict key/shape match"
            if record.sha256 != observed:
                ok, msg = (
                    False,
                    f"structure ok but sha256 changed since it was recorded ({record.sha256})",
                )
        except WeightsError as e:
            ok, msg = False, str(e)
        results.append(VerifyResult(name, path, ok, "structure", record.sha256, observed, msg))
    return VerifyReport(tuple(results))


def import_weights(
    file: str | os.PathLike[str],
    name: str,
    progress: ProgressCallback | None = None,
) -> ImportResult:
    """`import FILE --name NAME`: copy a local checkpoint into the cache after verifying it.

    A registry name is verified like a download (hash, else structure). A new name is
    accepted when its architecture is detected and matches strictly; it is then resolvable by
    name like a registry entry.
    """
    source = Path(file)
    if not source.is_file():
        raise WeightsError(f"{source}: no such file")
    registry = load_registry()
    entry = registry.get(name)
    if entry is None:
        if not _NAME.match(name):
            raise WeightsError(f"invalid weights name '{name}' (letters, digits, '.', '_', '-')")
        from .checkpoints import detect_architecture, read_checkpoint, shapes_of

        ckpt = read_checkpoint(source)
        detection = detect_architecture(shapes_of(ckpt.state_dict))
        container = ckpt.container
        del ckpt  # the copy below streams the file; do not hold its tensors meanwhile
        entry = WeightsEntry(
            name=name,
            model=detection.model,
            config=detection.config,
            dataset=UNKNOWN,
            source=str(source.resolve()),
            url=UNKNOWN,
            page=UNKNOWN,
            file=source.name,
            sha256=None,
            container=container,
            aux_head_keys=bool(detection.training_keys),
            paper_psnr=None,
            paper_ssim=None,
            reported=UNKNOWN,
            licence=UNKNOWN,
            citation=UNKNOWN,
            notes="imported",
        )
    root = cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _disk_error(root, e) from None
    final = _cached_path(root, entry)
    part = final.with_name(f"{final.name}.import{PART_SUFFIX}")
    total = source.stat().st_size
    digest = hashlib.sha256()
    done = 0
    try:
        with source.open("rb") as src, _open_partial(part, append=False) as out:
            for block in iter(lambda: src.read(CHUNK), b""):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress is not None:
                    progress(name, done, total)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise _disk_error(part, e) from None
    sha = digest.hexdigest()
    # a new name was checked on the source above; a registry name is checked like a download
    method = "structure" if name not in registry else _verify_file(part, entry, sha, str(source))
    try:
        os.replace(part, final)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise _disk_error(final, e) from None
    _record(root, entry, final, sha, method, str(source.resolve()))
    return ImportResult(
        name, final, sha, total, method, entry.model, dict(entry.config), entry.sha256 is None
    )


def remove(name: str) -> RemoveResult:
    """`remove NAME`: delete the cached file, its partial downloads and its index record."""
    root = cache_dir()
    registry = load_registry()
    index = read_index(root)
    if name not in registry and name not in index:
        raise UnknownWeightsError(_unknown_message(name, [*registry, *index]))
    targets: list[Path] = []
    if name in index:
        targets.append(root / index[name].file)
    if name in registry:
        targets += [_cached_path(root, registry[name]), *_partials(root, registry[name])]
    removed, freed = [], 0
    for path in dict.fromkeys(targets):
        if path.is_file():
            freed += path.stat().st_size
            try:
                path.unlink()
            except OSError as e:
                raise WeightsError(f"cannot remove {path}: {e.strerror or e}") from None
            removed.append(path)
    if name in index:
        del index[name]
        _write_index(root, index)
    return RemoveResult(name, tuple(removed), freed)


def resolve(
    spec: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    download_missing: bool = True,
) -> ResolvedWeights:
    """A local file path, a registry name (downloaded if needed) or an imported name."""
    path = Path(spec)
    if path.is_file():
        return ResolvedWeights(path, None, None)
    text = str(spec)
    registry = load_registry()
    if text in registry:
        if not download_missing:
            return ResolvedWeights(locate(text).path, registry[text], text)
        result = download(text, progress=progress)
        return ResolvedWeights(
            result.path, registry[text], text, None if result.from_cache else result
        )
    index = read_index()
    if text in index:
        return ResolvedWeights(locate(text).path, None, text)
    if os.sep in text or text.endswith(_CHECKPOINT_SUFFIXES):
        raise WeightsError(f"{text}: no such file")
    raise UnknownWeightsError(_unknown_message(text, [*registry, *index]))
