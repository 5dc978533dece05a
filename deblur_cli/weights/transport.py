"""Transfers into the cache: HTTP(S) with Range resume, and Google Drive through gdown. Both write
to a partial file beside the final name and return its sha256; `install` renames a verified one
into place, so a file under a final name is always complete."""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from .. import __version__
from ..errors import DownloadError, WeightsError
from .index import CHUNK, hash_into
from .registry import CHECKPOINT_SUFFIXES

PART_SUFFIX = ".part"
DEFAULT_TIMEOUT = 60.0
REASON_CHARS = 160  # a cause longer than this is cut at a word boundary

Report = Callable[[int, "int | None"], None]


def open_partial(path: Path, append: bool) -> BinaryIO:
    """Opened through this one function so tests can simulate a failing disk."""
    return path.open("ab" if append else "wb")


def disk_error(path: Path, e: OSError) -> WeightsError:
    reason = os.strerror(e.errno) if e.errno else str(e)
    return WeightsError(f"cannot write {path}: {reason}")


def install(part: Path, final: Path) -> None:
    """Rename a verified partial file to its final name (atomic on one file system)."""
    try:
        os.replace(part, final)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise disk_error(final, e) from None


def _root_cause(e: BaseException) -> BaseException:
    """The innermost error: requests wraps urllib3, which wraps the socket error that says why."""
    seen: set[int] = set()
    while id(e) not in seen:
        seen.add(id(e))
        inner = getattr(e, "reason", None)
        if not isinstance(inner, BaseException):
            inner = e.__cause__ or next((a for a in e.args if isinstance(a, BaseException)), None)
        if inner is None:
            break
        e = inner
    return e


def reason(e: BaseException, innermost: bool = True) -> str:
    """A short one-line cause, whole words, at most ~160 characters.

    `innermost`: the text of the error at the bottom of the chain (for network errors, whose
    outer layers only repeat the URL); else `e`'s own message.
    """
    cause = _root_cause(e) if innermost else e
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    if isinstance(cause, urllib.error.URLError) and isinstance(cause.reason, str):
        return cause.reason
    text = " ".join(str(cause).split())
    text = re.sub(r"^Failed to retrieve file url: ", "", text)  # gdown's generic preamble
    text = text.split(" You may still be able to access", 1)[0]
    if not text:
        return type(cause).__name__
    if len(text) <= REASON_CHARS:
        return text
    return text[:REASON_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + " …"


# --- HTTP -----------------------------------------------------------------------------------


def _open_http(url: str, start: int, timeout: float) -> Any:
    """The response to a GET (with a Range from `start`); None when the range is unsatisfiable."""
    headers = {"User-Agent": f"deblur/{__version__}", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and start:  # our partial file is no prefix of theirs
            return None
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        host = urllib.parse.urlsplit(url).netloc
        raise DownloadError(f"cannot reach {host}: {reason(e)}") from None


def _stream(response: Any, url: str, part: Path, start: int, report: Report) -> tuple[int, str]:
    """Write the body to `part` (appending after `start` bytes); returns (start, sha256)."""
    digest = hashlib.sha256()
    if start and response.status == 206:
        if not (response.headers.get("Content-Range") or "").startswith(f"bytes {start}-"):
            raise DownloadError(f"{url}: the server answered the resume with another range")
        hash_into(digest, part)
    else:  # a fresh transfer, or the server ignored the range (200): start over
        start = 0
    length = response.headers.get("Content-Length")
    total = start + int(length) if length is not None else None
    done = start
    try:
        out = open_partial(part, append=start > 0)
    except OSError as e:
        raise disk_error(part, e) from None
    with out:
        report(done, total)
        while block := _read_block(response, url, done, total):
            try:
                out.write(block)
            except OSError as e:
                out.close()
                part.unlink(missing_ok=True)
                raise disk_error(part, e) from None
            digest.update(block)
            done += len(block)
            report(done, total)
    if total is not None and done < total:
        raise DownloadError(
            f"{url}: transfer interrupted after {done} of {total} bytes; run again to resume"
        )
    return start, digest.hexdigest()


def _read_block(response: Any, url: str, done: int, total: int | None) -> bytes:
    try:
        return bytes(response.read(CHUNK))
    except (http.client.HTTPException, OSError) as e:
        raise DownloadError(
            f"{url}: transfer interrupted after {done} of {total or '?'} bytes "
            f"({type(e).__name__}); run again to resume"
        ) from None


def fetch_http(url: str, part: Path, report: Report, timeout: float) -> tuple[int, str]:
    """Download `url` into `part`, resuming it with a Range request.

    Returns (bytes already on disk when the transfer started, sha256 of the whole file).
    """
    start = part.stat().st_size if part.exists() else 0
    response = _open_http(url, start, timeout)
    if response is None:  # 416: start over without the stale partial file
        part.unlink(missing_ok=True)
        start = 0
        response = _open_http(url, 0, timeout)
    with response:
        return _stream(response, url, part, start, report)


# --- Google Drive ---------------------------------------------------------------------------


def gdrive_folder_file(folder_id: str, wanted: str | None, timeout: float) -> tuple[str, str]:
    """(file id, file name) of `wanted` in a public Drive folder, from gdown's folder listing."""
    import gdown
    import requests

    try:
        listing = gdown.download_folder(
            id=folder_id, skip_download=True, quiet=True, use_cookies=False, timeout=timeout
        )
    except (gdown.exceptions.DownloadError, requests.RequestException, OSError) as e:
        raise DownloadError(f"cannot list Google Drive folder {folder_id}: {reason(e)}") from None
    # with skip_download gdown lists files (it returns paths only when it downloads)
    files = [(f.id, Path(f.path).name) for f in listing or [] if not isinstance(f, str)]
    if wanted is not None:
        for file_id, name in files:
            if name == wanted:
                return file_id, name
        held = ", ".join(n for _, n in files) or "nothing"
        raise DownloadError(f"Google Drive folder {folder_id} has no file '{wanted}' ({held})")
    checkpoints = [(i, n) for i, n in files if n.endswith(CHECKPOINT_SUFFIXES)]
    if len(checkpoints) == 1:
        return checkpoints[0]
    raise DownloadError(
        f"Google Drive folder {folder_id} holds {len(checkpoints)} checkpoint files "
        f"({', '.join(n for _, n in checkpoints) or 'none'}); download one by hand and use "
        "`deblur weights import FILE --name NAME`"
    )


def fetch_gdrive(file_id: str, staging: Path, report: Report, timeout: float) -> tuple[int, str]:
    """Download a Drive file to `staging` with gdown; returns (resume offset, sha256).

    gdown handles Drive's large-file confirmation page (an HTML form whose format Google
    changes every few years; gdown follows it, hand-written scraping would rot) and resumes
    from its own `<staging>XXXXXXXX.part` file with a Range request (gdown >= 6.3: `progress`,
    `hasher` and `timeout`).
    """
    digest = hashlib.sha256()
    if staging.is_file():  # completed by an earlier run that stopped before verifying
        hash_into(digest, staging)
        return staging.stat().st_size, digest.hexdigest()
    partials = staging.parent.glob(staging.name + "*" + PART_SUFFIX)
    start = max((p.stat().st_size for p in partials), default=0)
    _gdown_download(file_id, staging, report, digest, timeout)
    return start, digest.hexdigest()


def _gdown_download(
    file_id: str, staging: Path, report: Report, digest: Any, timeout: float
) -> None:
    import gdown
    import requests

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
            f"Google Drive file {file_id}: no download link ({reason(e, innermost=False)})"
        ) from None
    except requests.HTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise DownloadError(f"Google Drive file {file_id}: HTTP {status}") from None
    except (requests.ConnectionError, requests.Timeout) as e:
        raise DownloadError(f"cannot reach drive.google.com: {reason(e)}") from None
    except (gdown.exceptions.DownloadError, requests.RequestException) as e:  # cut short
        raise DownloadError(
            f"Google Drive file {file_id}: {reason(e, innermost=False)}; run again to resume"
        ) from None
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise disk_error(staging, e) from None
        raise DownloadError(f"Google Drive file {file_id}: {reason(e)}") from None
