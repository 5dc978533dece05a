"""The weights registry and cache: registry contents, downloads against a local HTTP server
(progress, cache hit, checksum mismatch, interrupted transfer, resume, 404, unreachable host,
disk failure), structural verification where no hash is known, import/verify/remove, and the
Google Drive glue (gdown faked: no network here)."""

from __future__ import annotations

import errno
import hashlib
import http.server
import io
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import REPO

from deblur_cli import weights
from deblur_cli.checkpoints import load_pretrained
from deblur_cli.errors import WeightsError
from deblur_cli.models import create, get_spec
from deblur_cli.weights import (
    ChecksumMismatchError,
    DownloadError,
    NotCachedError,
    RegistryError,
    UnknownWeightsError,
)

# --- the shipped registry ----------------------------------------------------------------


def test_root_registry_is_a_copy_of_the_packaged_one() -> None:
    packaged = REPO / "deblur_cli" / "data" / "weights.toml"
    assert (REPO / "weights.toml").read_bytes() == packaged.read_bytes(), (
        "weights.toml at the repository root must equal deblur_cli/data/weights.toml: copy it"
    )


def test_shipped_registry_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.REGISTRY_ENV, raising=False)
    registry = weights.load_registry()
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
        with torch.device("meta"):
            create(entry.model, **entry.config)  # model and config fields are valid


def test_registry_override_and_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "reg.toml"
    path.write_text(
        _entry_toml("x.one", "https://example.invalid/x.pth", sha="unknown") + 'typo = "1"\n'
    )
    monkeypatch.setenv(weights.REGISTRY_ENV, str(path))
    with pytest.raises(RegistryError, match="unknown field"):
        weights.load_registry()
    path.write_text(_entry_toml("x.one", "https://example.invalid/x.pth", sha="abc"))
    with pytest.raises(RegistryError, match="64 hex digits"):
        weights.load_registry()
    path.write_text(_entry_toml("x.one", "ftp://example.invalid/x.pth"))
    with pytest.raises(RegistryError, match="source must start"):
        weights.load_registry()
    path.write_text(_entry_toml("x.one", "https://example.invalid/x.pth"))
    assert list(weights.load_registry()) == ["x.one"]


def test_unknown_name_suggests_the_closest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.REGISTRY_ENV, raising=False)
    with pytest.raises(UnknownWeightsError, match="did you mean 'mlwnet.realblur-j-w32'"):
        weights.get_entry("mlwnet.realblur-j-32")


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(weights.HOME_ENV, str(tmp_path))
    assert weights.cache_dir() == tmp_path / "weights"
    monkeypatch.delenv(weights.HOME_ENV)
    from platformdirs import user_data_dir

    assert weights.cache_dir() == Path(user_data_dir("deblur")) / "weights"


# --- a local HTTP server -----------------------------------------------------------------


@dataclass
class Server:
    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: int | None = None  # close the connection after this many body bytes
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            state.requests.append((self.path, rng))
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            if rng and not state.ignore_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416, "Range Not Satisfiable")
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            payload = body[start:]
            if state.cut_after is not None:
                payload = payload[: state.cut_after]
                self.close_connection = True
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _entry_toml(
    name: str,
    source: str,
    sha: str = "unknown",
    model: str = "mlwnet",
    config: str = "{ dim = 4 }",
    container: str = "params",
    file: str = "m.pth",
) -> str:
    return f"""
[[weights]]
name = "{name}"
model = "{model}"
config = {config}
dataset = "test"
source = "{source}"
url = "{source}"
page = "test"
file = "{file}"
sha256 = "{sha}"
container = "{container}"
aux_head_keys = false
paper_psnr = "unknown"
paper_ssim = 0.5
reported = "test"
licence = "test"
citation = "test"
notes = "test"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(weights.HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home" / "weights"


def _use_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *entries: str) -> None:
    path = tmp_path / "registry.toml"
    path.write_text("".join(entries))
    monkeypatch.setenv(weights.REGISTRY_ENV, str(path))


def _checkpoint(model: str = "mlwnet", container: str = "params", **config: Any) -> bytes:
    torch.manual_seed(0)
    sd = create(model, **config).state_dict()
    buf = io.BytesIO()
    torch.save({container: sd} if container != "plain" else sd, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def ckpt_bytes() -> bytes:
    return _checkpoint(dim=4)  # ~1.6 MB: two chunks and a bit


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers(root: Path) -> list[str]:
    return (
        sorted(p.name for p in root.glob("*") if p.name != weights.INDEX_NAME)
        if root.exists()
        else []
    )


# --- downloads ---------------------------------------------------------------------------


def test_download_with_progress_then_cache_hit(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    _use_registry(
        tmp_path, monkeypatch, _entry_toml("t.m", f"{server.url}/m.pth", sha=_sha(ckpt_bytes))
    )
    events: list[tuple[str, int, int | None]] = []
    result = weights.download("t.m", progress=lambda *e: events.append(e))
    assert result.path == home / "t.m.pth" and result.path.read_bytes() == ckpt_bytes
    assert (result.verified_by, result.from_cache, result.record_hash) == ("sha256", False, False)
    assert events[0] == ("t.m", 0, len(ckpt_bytes)) and events[-1] == (
        "t.m",
        len(ckpt_bytes),
        len(ckpt_bytes),
    )
    assert len(events) >= 3
    assert _leftovers(home) == ["t.m.pth"]
    assert weights.read_index()["t.m"].sha256 == _sha(ckpt_bytes)

    again = weights.download("t.m", progress=lambda *e: events.append(e))
    assert again.from_cache and again.path == result.path
    assert len(server.requests) == 1  # no request for the cache hit
    assert weights.locate("t.m").path == result.path

    (home / weights.INDEX_NAME).unlink()  # a file without its index record is re-verified
    assert weights.download("t.m").from_cache and len(server.requests) == 1
    assert weights.read_index()["t.m"].sha256 == _sha(ckpt_bytes)


def test_checksum_mismatch_deletes_the_file(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    _use_registry(tmp_path, monkeypatch, _entry_toml("t.m", f"{server.url}/m.pth", sha="0" * 64))
    with pytest.raises(ChecksumMismatchError, match="does not match .* the file was deleted"):
        weights.download("t.m")
    assert _leftovers(home) == []
    with pytest.raises(NotCachedError):
        weights.locate("t.m")


def test_interrupted_transfer_then_resume(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    _use_registry(
        tmp_path, monkeypatch, _entry_toml("t.m", f"{server.url}/m.pth", sha=_sha(ckpt_bytes))
    )
    server.cut_after = 700_000
    with pytest.raises(
        DownloadError, match="interrupted after 700000 of .* run again to resume"
    ) as info:
        weights.download("t.m")
    assert "\n" not in str(info.value)
    assert _leftovers(home) == ["t.m.pth.part"]  # never under the final name
    assert (home / "t.m.pth.part").stat().st_size == 700_000

    server.cut_after = None
    result = weights.download("t.m")
    assert server.requests[-1][1] == "bytes=700000-"
    assert result.resumed_from == 700_000 and result.path.read_bytes() == ckpt_bytes
    assert _leftovers(home) == ["t.m.pth"]


def test_server_ignoring_range_restarts_cleanly(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    _use_registry(
        tmp_path, monkeypatch, _entry_toml("t.m", f"{server.url}/m.pth", sha=_sha(ckpt_bytes))
    )
    home.mkdir(parents=True)
    (home / "t.m.pth.part").write_bytes(b"garbage that is not a prefix")
    server.ignore_range = True
    result = weights.download("t.m")
    assert result.resumed_from == 0 and result.path.read_bytes() == ckpt_bytes


def test_stale_partial_longer_than_the_file_restarts(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"x" * 1000
    server.files["/m.pth"] = data
    _use_registry(tmp_path, monkeypatch, _entry_toml("t.m", f"{server.url}/m.pth", sha=_sha(data)))
    home.mkdir(parents=True)
    (home / "t.m.pth.part").write_bytes(b"y" * 5000)
    assert weights.download("t.m").path.read_bytes() == data  # 416, then a fresh transfer


def test_http_404(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_registry(tmp_path, monkeypatch, _entry_toml("t.m", f"{server.url}/gone.pth"))
    with pytest.raises(DownloadError, match="HTTP 404"):
        weights.download("t.m")
    assert _leftovers(home) == []


def test_unreachable_host(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _use_registry(tmp_path, monkeypatch, _entry_toml("t.m", f"http://127.0.0.1:{port}/m.pth"))
    with pytest.raises(DownloadError, match=f"cannot reach 127.0.0.1:{port}"):
        weights.download("t.m", timeout=5)
    assert _leftovers(home) == []


def test_disk_write_failure(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    _use_registry(tmp_path, monkeypatch, _entry_toml("t.m", f"{server.url}/m.pth"))

    class FullDisk(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(weights, "_open_partial", lambda path, append: FullDisk())
    with pytest.raises(WeightsError, match="cannot write .*t.m.pth.part: No space left on device"):
        weights.download("t.m")
    assert _leftovers(home) == []


def test_unknown_hash_verified_structurally_and_recorded(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    _use_registry(tmp_path, monkeypatch, _entry_toml("t.m", f"{server.url}/m.pth"))
    result = weights.download("t.m")
    assert (result.verified_by, result.record_hash, result.sha256) == (
        "structure",
        True,
        _sha(ckpt_bytes),
    )
    assert weights.observed_hashes() == {"t.m": _sha(ckpt_bytes)}
    report = weights.verify()
    assert report.ok and report.results[0].method == "structure"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("other", "does not match mlwnet"),
        ("truncated", "truncated or corrupt"),
        ("html", "not a PyTorch"),
    ],
)
def test_unknown_hash_bad_file_is_deleted(
    server: Server,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ckpt_bytes: bytes,
    payload: str,
    error: str,
) -> None:
    body = {
        "other": ckpt_bytes,  # a width-4 file where the registry says width 8
        "truncated": ckpt_bytes[: len(ckpt_bytes) // 2],
        "html": b"<html>Quota exceeded</html>",
    }[payload]
    server.files["/m.pth"] = body
    config = "{ dim = 8 }" if payload == "other" else "{ dim = 4 }"
    _use_registry(tmp_path, monkeypatch, _entry_toml("t.m", f"{server.url}/m.pth", config=config))
    with pytest.raises(WeightsError, match=f"{error}.*the file was deleted"):
        weights.download("t.m")
    assert _leftovers(home) == []


# --- list / verify / import / remove / resolve --------------------------------------------


def test_list_verify_remove(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    _use_registry(
        tmp_path,
        monkeypatch,
        _entry_toml("t.m", f"{server.url}/m.pth", sha=_sha(ckpt_bytes)),
        _entry_toml("t.absent", f"{server.url}/absent.pth"),
    )
    report = weights.download_many(None)
    assert [r.name for r in report.results] == ["t.m"]
    assert report.errors[0][0] == "t.absent" and "HTTP 404" in report.errors[0][1]
    listing = weights.list_weights()
    assert [(s.entry.name, s.path is not None) for s in listing.weights] == [
        ("t.m", True),
        ("t.absent", False),
    ]

    assert weights.verify(["t.m"]).ok
    path = weights.locate("t.m").path
    path.write_bytes(ckpt_bytes[:-1] + bytes([ckpt_bytes[-1] ^ 1]))
    bad = weights.verify(["t.m"]).results[0]
    assert not bad.ok and bad.method == "sha256" and bad.observed_sha256 != bad.expected_sha256
    assert weights.verify(["t.absent"]).results[0].method == "missing"

    (home / "t.m.pth.part").write_bytes(b"partial")
    removed = weights.remove("t.m")
    assert {p.name for p in removed.removed} == {"t.m.pth", "t.m.pth.part"}
    assert _leftovers(home) == [] and "t.m" not in weights.read_index()
    with pytest.raises(UnknownWeightsError):
        weights.remove("t.nope")


def test_import_registry_name_and_new_name(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    _use_registry(tmp_path, monkeypatch, _entry_toml("t.m", "https://example.invalid/m.pth"))
    local = tmp_path / "downloaded_by_hand.pth"
    local.write_bytes(ckpt_bytes)
    result = weights.import_weights(local, "t.m")
    assert (result.verified_by, result.record_hash) == ("structure", True)
    assert weights.download("t.m").from_cache  # no network needed any more

    seed = tmp_path / "Network_d4.pth"
    seed.write_bytes(_checkpoint("ce-mlwnet", dim=4, aux_heads=True))
    imported = weights.import_weights(seed, "my-ce")
    assert (imported.model, imported.config["dim"]) == ("ce-mlwnet", 4)
    assert [r.name for r in weights.list_weights().imported] == ["my-ce"]
    loaded = load_pretrained("my-ce")
    assert loaded.name == "ce-mlwnet" and len(loaded.dropped_keys) == 6

    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(_checkpoint("hybridnet", dim=4))
    with pytest.raises(WeightsError, match="does not match mlwnet"):
        weights.import_weights(wrong, "t.m")
    evil = tmp_path / "evil.pth"
    evil.write_bytes(b"\x80\x02cos\nsystem\n(S'true'\ntR.")  # os.system("true")
    with pytest.raises(WeightsError, match="would execute code"):
        weights.import_weights(evil, "my-evil")
    assert "my-evil" not in weights.read_index()


def test_resolve_and_load_pretrained(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    server.files["/m.pth"] = ckpt_bytes
    _use_registry(
        tmp_path, monkeypatch, _entry_toml("t.m", f"{server.url}/m.pth", model="mlwnet-local")
    )
    local = tmp_path / "local.pth"
    local.write_bytes(ckpt_bytes)
    assert weights.resolve(local).entry is None
    with pytest.raises(NotCachedError):
        weights.resolve("t.m", download_missing=False)
    loaded = load_pretrained("t.m")  # downloads, verifies, builds mlwnet-local dim 4
    assert (loaded.name, loaded.config["dim"]) == ("mlwnet-local", 4)
    with pytest.raises(UnknownWeightsError, match="did you mean 't.m'"):
        weights.resolve("t.n")
    with pytest.raises(WeightsError, match="no such file"):
        weights.resolve(tmp_path / "missing.pth")


# --- Google Drive glue (gdown is faked: there is no network here) --------------------------


def test_gdrive_download_goes_through_gdown(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt_bytes: bytes
) -> None:
    import gdown

    calls: list[dict[str, Any]] = []

    def fake_download(**kwargs: Any) -> str:
        calls.append(kwargs)
        kwargs["hasher"].update(ckpt_bytes)
        kwargs["progress"](len(ckpt_bytes), len(ckpt_bytes))
        Path(kwargs["output"]).write_bytes(ckpt_bytes)
        return kwargs["output"]

    def fake_folder(**kwargs: Any) -> list[Any]:
        assert kwargs["skip_download"] and kwargs["quiet"]
        return [
            _File("ID-A", "A.pth"),
            _File("ID-N", "sub/Network_d32_3241.pth"),
            _File("ID-R", "README.txt"),
        ]

    monkeypatch.setattr(gdown, "download", fake_download)
    monkeypatch.setattr(gdown, "download_folder", fake_folder)
    _use_registry(
        tmp_path,
        monkeypatch,
        _entry_toml("t.file", "gdrive:FILEID"),
        _entry_toml("t.named", "gdrive-folder:FOLDER", file="Network_d32_3241.pth"),
        _entry_toml("t.guess", "gdrive-folder:FOLDER", file="unknown"),
    )
    events: list[Any] = []
    result = weights.download("t.file", progress=lambda *e: events.append(e))
    assert result.verified_by == "structure" and result.sha256 == _sha(ckpt_bytes)
    assert (
        calls[0]["id"] == "FILEID"
        and calls[0]["resume"]
        and calls[0]["quiet"]
        and not calls[0]["use_cookies"]
    )
    assert Path(calls[0]["output"]).parent == home and events[-1] == (
        "t.file",
        len(ckpt_bytes),
        len(ckpt_bytes),
    )
    assert weights.download("t.named").sha256 == _sha(ckpt_bytes)
    assert calls[1]["id"] == "ID-N"
    with pytest.raises(
        DownloadError, match="holds 2 checkpoint files \\(A.pth, Network_d32_3241.pth\\)"
    ):
        weights.download("t.guess")


@dataclass
class _File:
    id: str
    path: str
    local_path: str = ""


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("retrieval", "no download link .*Too many users"),
        ("cut", "ends before .* run again to resume"),
        ("offline", "cannot reach drive.google.com"),
    ],
)
def test_gdrive_errors_are_one_line(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str, message: str
) -> None:
    import gdown
    import requests

    def failing(**kwargs: Any) -> str:
        if error == "retrieval":
            raise gdown.exceptions.FileURLRetrievalError(
                "Failed to retrieve file url:\n\n\tToo many users\n"
            )
        if error == "cut":
            raise gdown.exceptions.DownloadError(
                "The response body ends before\nthe announced size"
            )
        raise requests.ConnectionError("Name or service not known")

    monkeypatch.setattr(gdown, "download", failing)
    _use_registry(tmp_path, monkeypatch, _entry_toml("t.file", "gdrive:FILEID"))
    with pytest.raises(DownloadError, match=message) as info:
        weights.download("t.file")
    assert "\n" not in str(info.value)
    assert _leftovers(home) == []
