"""The weights registry and cache: registry contents and validation, downloads against a local
HTTP server (progress, cache hit, checksum mismatch, interrupted transfer, resume, 404,
unreachable host, disk failure), structural verification where no hash is known, a cached file
that fails re-verification kept aside, import/verify/remove, and the Google Drive glue (gdown's
real signatures, autospec'd: there is no network here)."""

from __future__ import annotations

import errno
import io
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import gdown
import pytest
import requests
import torch
from helpers.weights import (
    EVIL,
    Server,
    checkpoint_bytes,
    closed_port,
    entry_toml,
    leftovers,
    serve,
    sha256,
    use_home,
    use_registry,
)
from urllib3.exceptions import MaxRetryError, NameResolutionError

from deblur_cli import weights
from deblur_cli.errors import (
    ArchitectureMismatchError,
    ChecksumMismatchError,
    DownloadError,
    NotCachedError,
    RegistryError,
    UnknownWeightsError,
    WeightsError,
    WeightsExistError,
)
from deblur_cli.models import create, get_spec
from deblur_cli.weights import transport


@pytest.fixture
def server() -> Iterator[Server]:
    with serve() as state:
        yield state


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_home(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def ckpt_bytes() -> bytes:
    return checkpoint_bytes("mlwnet", dim=4)  # ~1.6 MB: two chunks and a bit


def _pinned(server: Server, data: bytes, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    """Registry `t.m` served from /m.pth with its sha256 pinned."""
    server.files["/m.pth"] = data
    use_registry(tmp_path, mp, entry_toml("t.m", f"{server.url}/m.pth", sha=sha256(data)))


# --- the shipped registry ----------------------------------------------------------------


def test_shipped_registry_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.REGISTRY_ENV, raising=False)
    # bundled entries (shipped in the package, hash required) are checked in
    # test_bundled_weights.py; these are the published, downloaded ones
    registry = {n: e for n, e in weights.load_registry().items() if e.bundled_file is None}
    sources = {e.name: e.source for e in registry.values()}
    # the links of the issue, read from the upstream READMEs and the seed's slides
    assert sources == {
        "mlwnet.gopro-w64": "gdrive:15SjPtkfQ0m6NuVss0rwvscatKwRZ2l4i",
        "mlwnet.realblur-j-w32": "gdrive:1WYhczcWj9vPn-C3fCfLk5Tq0GkD3ylY3",
        "mlwnet.realblur-j-w64": "gdrive:1lv3MCJgZUWgITUFNvgY8nU9YlpgE050W",
        "mlwnet.realblur-r-w64": "gdrive:1hp4Qu2n_lOmc7LsSOHYjf4NhUzZtskGP",
        "fftformer.realblur": "gdrive-folder:1l_R8_2UKfiQP_BYrgcQrmCBSe_ogwL41",
        "fftformer.seed-realblur-j": "gdrive-folder:1symu2hEiHB679yDPjsiQWi6pAvcd4_6w",
        "mlwnet.seed-realblur-j-w32": "gdrive-folder:1symu2hEiHB679yDPjsiQWi6pAvcd4_6w",
        "hybridnet.seed-realblur-j": "gdrive-folder:1symu2hEiHB679yDPjsiQWi6pAvcd4_6w",
        "ce-mlwnet.seed-realblur-j": "gdrive-folder:1symu2hEiHB679yDPjsiQWi6pAvcd4_6w",
    }
    assert registry["ce-mlwnet.seed-realblur-j"].file == "Network_d32_3241.pth"
    for entry in registry.values():
        # nobody here could download these files: no hash may be claimed
        assert entry.sha256 is None, entry.name
        assert entry.container == ("plain" if entry.name == "fftformer.realblur" else "params")
        assert entry.aux_head_keys == bool(get_spec(entry.model).training_only_prefixes)
        # the dataset field names a dataset; remarks about it belong in notes
        assert len(entry.dataset.split()) == 1, entry.dataset
        with torch.device("meta"):
            create(entry.model, **entry.config)  # model and config fields are valid


def test_registry_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://example.invalid/x.pth"
    path = use_registry(tmp_path, monkeypatch, entry_toml("x.one", url) + 'typo = "1"\n')
    with pytest.raises(RegistryError, match="unknown field"):
        weights.load_registry()
    cases = {
        "64 hex digits": entry_toml("x.one", url, sha="abc"),
        "source must start": entry_toml("x.one", "ftp://example.invalid/x.pth"),
        "must be an array of": "weights = 3\n",
        "expected a table": "weights = [1, 2]\n",
        "dataset must be text": entry_toml("x.one", url).replace('"TestSet"', "3"),
        "duplicate weights name": entry_toml("x.one", url) * 2,
    }
    for message, text in cases.items():
        path.write_text(text)
        with pytest.raises(RegistryError, match=message):
            weights.load_registry()
    path.write_text(entry_toml("x.one", url))
    assert list(weights.load_registry()) == ["x.one"]


def test_binary_registry_and_index_are_one_line_errors(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = use_registry(tmp_path, monkeypatch)
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(RegistryError, match="not a UTF-8 text file .*byte 0x89 at offset 0"):
        weights.load_registry()
    path.write_text(entry_toml("t.m", "https://example.invalid/m.pth"))
    home.mkdir(parents=True)
    index = home / weights.INDEX_NAME
    for content, message in [
        (b"\xff\xfe\x00garbage", "not a UTF-8 text file"),
        (b"[1, 2]", "damaged .*no 'files' object"),
        (b'{"files": {"t.m": {"file": 3}}}', "damaged .*does not have the fields"),
    ]:
        index.write_bytes(content)
        with pytest.raises(RegistryError, match=message) as info:
            weights.list_weights()
        assert "\n" not in str(info.value)


def test_unknown_names_suggest_only_close_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.REGISTRY_ENV, raising=False)
    with pytest.raises(UnknownWeightsError, match="did you mean 'mlwnet.realblur-j-w32'"):
        weights.get_entry("mlwnet.realblur-j-32")
    for unrelated in ("fftformer.gopro", "ce-mlwnet", "realblur"):
        with pytest.raises(UnknownWeightsError) as info:
            weights.get_entry(unrelated)
        assert "did you mean" not in str(info.value), str(info.value)


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(weights.HOME_ENV, str(tmp_path))
    assert weights.cache_dir() == tmp_path / "weights"
    monkeypatch.delenv(weights.HOME_ENV)
    from platformdirs import user_data_dir

    assert weights.cache_dir() == Path(user_data_dir("deblur")) / "weights"


# --- downloads ---------------------------------------------------------------------------


def test_download_with_progress_then_cache_hit(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    _pinned(server, ckpt_bytes, tmp_path, monkeypatch)
    events: list[tuple[str, int, int | None]] = []
    result = weights.download("t.m", progress=lambda *e: events.append(e))
    size = len(ckpt_bytes)
    assert result.path == home / "t.m.pth" and result.path.read_bytes() == ckpt_bytes
    assert (result.verified_by, result.from_cache, result.record_hash) == ("sha256", False, False)
    assert events[0] == ("t.m", 0, size) and events[-1] == ("t.m", size, size)
    assert len(events) >= 3
    assert leftovers(home) == ["t.m.pth"]
    assert weights.read_index()["t.m"].sha256 == sha256(ckpt_bytes)

    again = weights.download("t.m", progress=lambda *e: events.append(e))
    assert again.from_cache and again.path == result.path
    assert len(server.requests) == 1  # no request for the cache hit
    assert weights.locate("t.m").path == result.path

    (home / weights.INDEX_NAME).unlink()  # a file without its index record is re-verified
    assert weights.download("t.m").from_cache and len(server.requests) == 1
    assert weights.read_index()["t.m"].sha256 == sha256(ckpt_bytes)


def test_checksum_mismatch_deletes_the_download(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", f"{server.url}/m.pth", sha="0" * 64))
    with pytest.raises(
        ChecksumMismatchError, match="does not match .* downloaded file was deleted"
    ):
        weights.download("t.m")
    assert leftovers(home) == []
    with pytest.raises(NotCachedError):
        weights.locate("t.m")


@pytest.mark.parametrize("change", ["damaged", "registry learnt another hash"])
def test_cached_file_failing_reverification_is_kept_aside(
    change: str,
    server: Server,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ckpt_bytes: bytes,
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    registry = use_registry(tmp_path, monkeypatch, entry_toml("t.m", f"{server.url}/m.pth"))
    cached = weights.download("t.m").path
    if change == "damaged":
        kept_bytes = ckpt_bytes[: len(ckpt_bytes) // 2]
        cached.write_bytes(kept_bytes)
    else:
        registry.write_text(entry_toml("t.m", f"{server.url}/m.pth", sha="1" * 64))
        kept_bytes = ckpt_bytes
    with pytest.raises(WeightsError, match="cached file failed verification") as info:
        weights.download("t.m")
    assert len(server.requests) == 1  # not silently downloaded again
    (kept,) = [p for p in home.iterdir() if weights.REJECTED in p.name]
    assert kept.name.startswith("t.m.pth.rejected-") and str(kept) in str(info.value)
    assert kept.read_bytes() == kept_bytes and not cached.exists()
    assert "\n" not in str(info.value)

    if change == "damaged":  # the next explicit download fetches a fresh copy
        assert weights.download("t.m").path.read_bytes() == ckpt_bytes
        assert len(server.requests) == 2
    assert kept.exists()
    removed = weights.remove("t.m").removed  # remove takes the rejected copy too
    assert kept in removed and not kept.exists()


def test_forced_download_keeps_the_cached_file_until_the_new_one_verifies(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    _pinned(server, ckpt_bytes, tmp_path, monkeypatch)
    cached = weights.download("t.m").path
    server.files["/m.pth"] = b"<html>Quota exceeded</html>"
    with pytest.raises(ChecksumMismatchError):
        weights.download("t.m", force=True)
    assert cached.read_bytes() == ckpt_bytes and leftovers(home) == ["t.m.pth"]


def test_interrupted_transfer_then_resume(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    _pinned(server, ckpt_bytes, tmp_path, monkeypatch)
    server.cut_after = 700_000
    with pytest.raises(
        DownloadError, match="interrupted after 700000 of .* run again to resume"
    ) as info:
        weights.download("t.m")
    assert "\n" not in str(info.value)
    assert leftovers(home) == ["t.m.pth.part"]  # never under the final name
    assert (home / "t.m.pth.part").stat().st_size == 700_000

    server.cut_after = None
    result = weights.download("t.m")
    assert server.requests[-1][1] == "bytes=700000-"
    assert result.resumed_from == 700_000 and result.path.read_bytes() == ckpt_bytes
    assert leftovers(home) == ["t.m.pth"]


def test_server_ignoring_range_restarts_cleanly(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    _pinned(server, ckpt_bytes, tmp_path, monkeypatch)
    home.mkdir(parents=True)
    (home / "t.m.pth.part").write_bytes(b"garbage that is not a prefix")
    server.ignore_range = True
    result = weights.download("t.m")
    assert result.resumed_from == 0 and result.path.read_bytes() == ckpt_bytes


def test_stale_partial_longer_than_the_file_restarts(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"x" * 1000
    _pinned(server, data, tmp_path, monkeypatch)
    home.mkdir(parents=True)
    (home / "t.m.pth.part").write_bytes(b"y" * 5000)
    assert weights.download("t.m").path.read_bytes() == data  # 416, then a fresh transfer


def test_http_404(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", f"{server.url}/gone.pth"))
    with pytest.raises(DownloadError, match="HTTP 404"):
        weights.download("t.m")
    assert leftovers(home) == []


def test_unreachable_host(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", f"http://127.0.0.1:{port}/m.pth"))
    with pytest.raises(DownloadError) as info:
        weights.download("t.m", timeout=5)
    assert str(info.value) == f"cannot reach 127.0.0.1:{port}: Connection refused"
    assert leftovers(home) == []


def test_disk_write_failure(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", f"{server.url}/m.pth"))

    class FullDisk(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transport, "open_partial", lambda path, append: FullDisk())
    with pytest.raises(WeightsError, match="cannot write .*t.m.pth.part: No space left on device"):
        weights.download("t.m")
    assert leftovers(home) == []


def test_unknown_hash_verified_structurally_and_recorded(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", f"{server.url}/m.pth"))
    result = weights.download("t.m")
    observed = (result.verified_by, result.record_hash, result.sha256)
    assert observed == ("structure", True, sha256(ckpt_bytes))
    report = weights.verify()
    assert report.ok and report.results[0].method == "structure"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("other", "holds hybridnet .*not mlwnet"),
        ("wider", "does not match mlwnet \\(dim=8\\)"),
        ("truncated", "truncated or corrupt"),
        ("html", "not a PyTorch"),
    ],
)
def test_unknown_hash_bad_download_is_deleted(
    server: Server,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ckpt_bytes: bytes,
    payload: str,
    error: str,
) -> None:
    server.files["/m.pth"] = {
        "other": checkpoint_bytes("hybridnet", dim=4),
        "wider": ckpt_bytes,  # a width-4 file where the registry says width 8
        "truncated": ckpt_bytes[: len(ckpt_bytes) // 2],
        "html": b"<html>Quota exceeded</html>",
    }[payload]
    config = "{ dim = 8 }" if payload == "wider" else "{ dim = 4 }"
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", f"{server.url}/m.pth", config=config))
    with pytest.raises(WeightsError, match=f"{error}.*the downloaded file was deleted"):
        weights.download("t.m")
    assert leftovers(home) == []


# --- list / verify / import / remove / resolve --------------------------------------------


def test_list_verify_remove(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    use_registry(
        tmp_path,
        monkeypatch,
        entry_toml("t.m", f"{server.url}/m.pth", sha=sha256(ckpt_bytes)),
        entry_toml("t.absent", f"{server.url}/absent.pth"),
    )
    report = weights.download_many(None)
    assert [r.name for r in report.results] == ["t.m"]
    assert report.errors[0][0] == "t.absent" and "HTTP 404" in report.errors[0][1]
    listing = weights.list_weights()
    cached = [(s.entry.name, s.path is not None) for s in listing.weights]
    assert cached == [("t.m", True), ("t.absent", False)]

    assert weights.verify(["t.m"]).ok
    path = weights.locate("t.m").path
    path.write_bytes(ckpt_bytes[:-1] + bytes([ckpt_bytes[-1] ^ 1]))
    bad = weights.verify(["t.m"]).results[0]
    assert not bad.ok and bad.method == "sha256" and bad.observed_sha256 != bad.expected_sha256
    assert path.exists()  # verify reports, it does not move or delete
    assert weights.verify(["t.absent"]).results[0].method == "missing"

    (home / "t.m.pth.part").write_bytes(b"partial")
    removed = weights.remove("t.m")
    assert {p.name for p in removed.removed} == {"t.m.pth", "t.m.pth.part"}
    assert leftovers(home) == [] and "t.m" not in weights.read_index()
    with pytest.raises(UnknownWeightsError):
        weights.remove("t.nope")


def test_import_registry_name_and_new_name(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", "https://example.invalid/m.pth"))
    local = tmp_path / "downloaded_by_hand.pth"
    local.write_bytes(ckpt_bytes)
    result = weights.import_weights(local, "t.m")
    assert (result.verified_by, result.record_hash, result.replaced) == ("structure", True, ())
    assert weights.download("t.m").from_cache  # no network needed any more

    seed = tmp_path / "Network_d4.pth"
    seed.write_bytes(checkpoint_bytes("ce-mlwnet", dim=4, aux_heads=True))
    imported = weights.import_weights(seed, "my-ce")
    assert (imported.model, imported.config["dim"]) == ("ce-mlwnet", 4)
    assert [r.name for r in weights.list_weights().imported] == ["my-ce"]
    assert weights.weights_by_model()["ce-mlwnet"] == ("my-ce",)
    loaded = weights.load_pretrained("my-ce")
    assert loaded.name == "ce-mlwnet" and len(loaded.dropped_keys) == 6
    with pytest.raises(ArchitectureMismatchError, match="'my-ce' are for ce-mlwnet, not mlwnet"):
        weights.load_pretrained("my-ce", model="mlwnet")

    evil = tmp_path / "evil.pth"
    evil.write_bytes(EVIL)
    with pytest.raises(WeightsError, match="would execute code"):
        weights.import_weights(evil, "my-evil")
    assert "my-evil" not in weights.read_index()


def test_import_of_another_architecture_under_a_registry_name(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's file is untouched and the message says so (it used to say it was deleted)."""
    use_registry(
        tmp_path,
        monkeypatch,
        entry_toml("ce.m", "https://example.invalid/m.pth", model="ce-mlwnet"),
    )
    wrong = tmp_path / "HybridNet_d4.pth"
    data = checkpoint_bytes("hybridnet", dim=4)
    wrong.write_bytes(data)
    with pytest.raises(ArchitectureMismatchError) as info:
        weights.import_weights(wrong, "ce.m")
    message = str(info.value)
    assert "holds hybridnet (" in message and "not ce-mlwnet (dim=4)" in message
    assert "not imported as 'ce.m'" in message and "deleted" not in message
    assert wrong.read_bytes() == data and leftovers(home) == []


def test_import_never_replaces_silently_nor_orphans(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    use_registry(tmp_path, monkeypatch)
    first = tmp_path / "a.pth"
    first.write_bytes(ckpt_bytes)
    weights.import_weights(first, "mine")
    other = tmp_path / "b.pt"  # another architecture and another suffix
    other.write_bytes(checkpoint_bytes("hybridnet", dim=4))
    with pytest.raises(WeightsExistError, match="'mine' already exist .*--overwrite"):
        weights.import_weights(other, "mine")
    assert leftovers(home) == ["mine.pth"] and weights.read_index()["mine"].model == "mlwnet"

    result = weights.import_weights(other, "mine", overwrite=True)
    assert result.replaced == (home / "mine.pth",) and result.model == "hybridnet"
    assert leftovers(home) == ["mine.pt"]  # the old file went with its record
    assert weights.remove("mine").removed == (home / "mine.pt",)
    assert leftovers(home) == []


def test_remove_takes_files_an_older_import_orphaned(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    use_registry(tmp_path, monkeypatch)
    local = tmp_path / "a.pt"
    local.write_bytes(ckpt_bytes)
    weights.import_weights(local, "mine")
    (home / "mine.pth").write_bytes(ckpt_bytes)  # left by an import before the fix
    weights.import_weights(local, "other")
    removed = weights.remove("mine").removed
    assert sorted(p.name for p in removed) == ["mine.pt", "mine.pth"]
    assert leftovers(home) == ["other.pt"]


def test_resolve_and_load_pretrained(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    url = f"{server.url}/m.pth"
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", url, model="mlwnet-local"))
    local = tmp_path / "local.pth"
    local.write_bytes(ckpt_bytes)
    assert weights.resolve(local).entry is None
    with pytest.raises(NotCachedError):
        weights.resolve("t.m", download_missing=False)
    loaded = weights.load_pretrained("t.m")  # downloads, verifies, builds mlwnet-local dim 4
    assert (loaded.name, loaded.config["dim"]) == ("mlwnet-local", 4)
    with pytest.raises(UnknownWeightsError, match="did you mean 't.m'"):
        weights.resolve("t.mm")
    with pytest.raises(WeightsError, match="no such file"):
        weights.resolve(tmp_path / "missing.pth")


# --- Google Drive glue: gdown's real signatures (autospec), no network -------------------------


@dataclass
class _File:
    id: str
    path: str
    local_path: str = ""


def _fake_gdown(data: bytes) -> Any:
    """A side effect for an autospec'd `gdown.download`: writes `data` as gdown would."""

    def download(**kwargs: Any) -> str:
        kwargs["hasher"].update(data)
        kwargs["progress"](len(data), len(data))
        Path(kwargs["output"]).write_bytes(data)
        return str(kwargs["output"])

    return download


def test_gdrive_download_goes_through_gdown(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    listing = [
        _File("ID-A", "A.pth"),
        _File("ID-N", "sub/Network_d32_3241.pth"),
        _File("ID-R", "README.txt"),
    ]
    use_registry(
        tmp_path,
        monkeypatch,
        entry_toml("t.file", "gdrive:FILEID"),
        entry_toml("t.named", "gdrive-folder:FOLDER", file="Network_d32_3241.pth"),
        entry_toml("t.guess", "gdrive-folder:FOLDER", file="unknown"),
    )
    events: list[Any] = []
    # autospec: a keyword our code passes that the installed gdown lacks fails here (TypeError)
    with (
        mock.patch("gdown.download", autospec=True, side_effect=_fake_gdown(ckpt_bytes)) as dl,
        mock.patch("gdown.download_folder", autospec=True, return_value=listing) as folder,
    ):
        result = weights.download("t.file", progress=lambda *e: events.append(e))
        assert weights.download("t.named").sha256 == sha256(ckpt_bytes)
        with pytest.raises(
            DownloadError, match="holds 2 checkpoint files \\(A.pth, Network_d32_3241.pth\\)"
        ):
            weights.download("t.guess")
    assert result.verified_by == "structure" and result.sha256 == sha256(ckpt_bytes)
    first = dl.call_args_list[0].kwargs
    assert first["id"] == "FILEID" and first["resume"] and first["quiet"]
    assert not first["use_cookies"] and Path(first["output"]).parent == home
    assert events[-1] == ("t.file", len(ckpt_bytes), len(ckpt_bytes))
    assert dl.call_args_list[1].kwargs["id"] == "ID-N"
    assert folder.call_args.kwargs["skip_download"] and folder.call_args.kwargs["quiet"]


def _offline_error() -> requests.ConnectionError:
    """What requests raises without DNS: the cause three wrappers deep."""
    try:
        raise socket.gaierror(-2, "Name or service not known")
    except socket.gaierror as gai:
        try:
            raise NameResolutionError("drive.google.com", None, gai) from gai  # type: ignore[arg-type]
        except NameResolutionError as nre:
            retries = MaxRetryError(None, "/uc?id=" + "x" * 300, reason=nre)  # type: ignore[arg-type]
            return requests.ConnectionError(retries)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("retrieval", "no download link \\(Too many users have viewed .*\\)$"),
        ("long", "no download link \\(Cannot retrieve the public link .*(words|and|more) …\\)$"),
        ("cut", "ends before the announced size; run again to resume$"),
        ("offline", "^cannot reach drive.google.com: Name or service not known$"),
    ],
)
def test_gdrive_errors_are_one_short_line(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str, message: str
) -> None:
    raised: Exception = {
        "retrieval": gdown.exceptions.FileURLRetrievalError(
            "Failed to retrieve file url:\n\n\tToo many users have viewed or downloaded this "
            "file recently.\n\nYou may still be able to access the file from the browser:"
            "\n\n\thttps://drive.google.com/uc?id=FILEID\n\nbut Gdown can't."
        ),
        "long": gdown.exceptions.FileURLRetrievalError(
            "Cannot retrieve the public link of the file. " + "words and more words " * 30
        ),
        "cut": gdown.exceptions.DownloadError("The response body ends before\nthe announced size"),
        "offline": _offline_error(),
    }[error]
    use_registry(tmp_path, monkeypatch, entry_toml("t.file", "gdrive:FILEID"))
    with mock.patch("gdown.download", autospec=True, side_effect=raised):
        with pytest.raises(DownloadError, match=message) as info:
            weights.download("t.file")
    assert "\n" not in str(info.value) and len(str(info.value)) < 250
    assert leftovers(home) == []
