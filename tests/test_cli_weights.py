"""`deblur weights` end to end through the CLI: every subcommand, `--json` on list, each bad
input as a one-line error with exit 1 and nothing half-written, and `deblur models` showing the
registry's weights. Downloads come from a local HTTP server; checkpoints are width-4 models."""

from __future__ import annotations

import errno
import hashlib
import http.server
import io
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from deblur_cli import weights
from deblur_cli.cli.app import app
from deblur_cli.models import create

runner = CliRunner()


# --- fixtures ------------------------------------------------------------------------------


@dataclass
class Server:
    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: int | None = None  # close the connection after this many body bytes
    pause: float = 0.0  # seconds to stall half way, so a progress bar gets drawn


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.cut_after is not None:
                body = body[: state.cut_after]
                self.close_connection = True
            if state.pause:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(state.pause)
                body = body[len(body) // 2 :]
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    class QuietServer(http.server.ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the client hanging up mid-body is what some tests do on purpose

    httpd = QuietServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(weights.HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home" / "weights"


def _entry(
    name: str, source: str, sha: str = "unknown", model: str = "mlwnet", dim: int = 4
) -> str:
    return f"""
[[weights]]
name = "{name}"
model = "{model}"
config = {{ dim = {dim} }}
dataset = "TestSet"
source = "{source}"
url = "{source}"
page = "test"
file = "m.pth"
sha256 = "{sha}"
container = "params"
aux_head_keys = false
paper_psnr = "unknown"
paper_ssim = "unknown"
reported = "test"
licence = "test"
citation = "test"
notes = "test"
"""


def _registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *entries: str) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text("".join(entries))
    monkeypatch.setenv(weights.REGISTRY_ENV, str(path))
    return path


def _state_dict(model: str = "mlwnet") -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return create(model, dim=4).state_dict()


def _save(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def ckpt() -> bytes:
    return _save({"params": _state_dict()})  # mlwnet, width 4: ~1.6 MB


@pytest.fixture(scope="module")
def hybrid_ckpt() -> bytes:
    return _save({"params": _state_dict("hybridnet")})


EVIL = b"\x80\x02cos\nsystem\n(S'true'\ntR."  # a pickle that would call os.system("true")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(p.name for p in root.glob("*") if p.name != weights.INDEX_NAME)


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _one_line_error(result: Any, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --- the happy path through every subcommand -------------------------------------------------


def test_download_path_list_verify_remove(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt: bytes
) -> None:
    server.files["/m.pth"] = ckpt
    server.files["/pinned.pth"] = ckpt
    _registry(
        tmp_path,
        monkeypatch,
        _entry("t.m", f"{server.url}/m.pth"),
        _entry("t.pinned", f"{server.url}/pinned.pth", sha=_sha(ckpt)),
        _entry("t.absent", f"{server.url}/absent.pth"),
    )

    result = _invoke("weights", "download", "t.m", "t.pinned")
    assert result.exit_code == 0, result.output
    assert "t.m" in result.stdout and "t.pinned" in result.stdout and "downloaded" in result.stdout
    # no hash in the registry: the observed one is printed (stderr) to be pinned
    assert f'sha256 = "{_sha(ckpt)}"' in result.stderr and "weights.toml" in result.stderr
    assert result.stderr.count("verified structurally") == 1  # not for t.pinned
    assert _leftovers(home) == ["t.m.pth", "t.pinned.pth"]

    again = _invoke("weights", "download", "t.m")
    assert again.exit_code == 0 and "t.m: already cached" in again.stderr

    path = _invoke("weights", "path", "t.m")
    assert path.exit_code == 0 and path.stdout == f"{home / 't.m.pth'}\n"
    as_json = json.loads(_invoke("weights", "path", "t.m", "--json").stdout)
    assert as_json["sha256"] == _sha(ckpt) and as_json["verified_by"] == "structure"

    listing = _invoke("weights", "list", "--json")
    assert listing.exit_code == 0
    data = json.loads(listing.stdout)
    assert data["cache_dir"] == str(home) and data["registry"] == str(tmp_path / "registry.toml")
    rows = {w["entry"]["name"]: w for w in data["weights"]}
    assert list(rows) == ["t.m", "t.pinned", "t.absent"]
    assert rows["t.m"]["path"] == str(home / "t.m.pth")
    assert (rows["t.m"]["verified_by"], rows["t.pinned"]["verified_by"]) == ("structure", "sha256")
    assert rows["t.absent"]["path"] is None and rows["t.absent"]["entry"]["model"] == "mlwnet"

    table = _invoke("weights", "list")
    assert table.exit_code == 0
    for text in ("name", "model", "dataset", "size", "cached?", "verified?", "TestSet", "MiB"):
        assert text in table.stdout
    line = next(row for row in table.stdout.splitlines() if "t.absent" in row)
    assert " no " in line

    verified = _invoke("weights", "verify")
    assert verified.exit_code == 0, verified.output
    assert "strict key/shape match" in verified.stdout and "sha256 matches" in verified.stdout
    assert json.loads(_invoke("weights", "verify", "t.m", "--json").stdout)["results"][0]["ok"]

    damaged = bytearray(ckpt)
    damaged[-1] ^= 1
    (home / "t.pinned.pth").write_bytes(bytes(damaged))
    bad = _invoke("weights", "verify", "t.pinned")
    _one_line_error(bad, "1 of 1 failed verification: t.pinned")
    assert "FAILED" in bad.stdout

    (home / "t.m.pth.part").write_bytes(b"partial")
    removed = _invoke("weights", "remove", "t.m")
    assert removed.exit_code == 0 and "t.m.pth" in removed.stdout
    assert _leftovers(home) == ["t.pinned.pth"]
    _one_line_error(_invoke("weights", "path", "t.m"), "'t.m'", "not downloaded yet")
    freed = json.loads(_invoke("weights", "remove", "t.pinned", "--json").stdout)["freed_bytes"]
    assert freed == len(ckpt)


def test_download_draws_a_progress_bar_on_a_terminal(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt: bytes
) -> None:
    from deblur_cli.cli import output

    server.files["/m.pth"] = ckpt
    _registry(tmp_path, monkeypatch, _entry("t.m", f"{server.url}/m.pth", sha=_sha(ckpt)))
    server.pause = 0.4
    monkeypatch.setattr(output.stderr, "_force_terminal", True)  # as on an interactive shell
    monkeypatch.setattr(output.stderr, "is_interactive", True)
    result = _invoke("weights", "download", "t.m")
    assert result.exit_code == 0, result.output
    assert "downloading t.m" in result.stderr and "MB" in result.stderr
    assert "downloading" not in result.stdout  # results only on stdout
    assert _leftovers(home) == ["t.m.pth"]


def test_download_all_continues_after_a_failure(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt: bytes
) -> None:
    server.files["/m.pth"] = ckpt
    _registry(
        tmp_path,
        monkeypatch,
        _entry("t.gone", f"{server.url}/gone.pth"),
        _entry("t.m", f"{server.url}/m.pth"),
    )
    result = _invoke("weights", "download", "--all", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [r["name"] for r in report["results"]] == ["t.m"]
    assert report["errors"][0][0] == "t.gone"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "t.gone" in errors[0] and "HTTP 404" in errors[0]
    assert _leftovers(home) == ["t.m.pth"]

    # several names: a typo and a 404 are both reported, the good one still lands
    _invoke("weights", "remove", "t.m")
    result = _invoke("weights", "download", "t.gone", "t.mm", "t.m")
    assert result.exit_code == 1 and "t.m" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert "t.gone" in errors[0] and "HTTP 404" in errors[0]
    assert "unknown weights 't.mm'" in errors[1] and "did you mean" in errors[1]
    assert _leftovers(home) == ["t.m.pth"]

    _one_line_error(_invoke("weights", "download"), "--all")
    _one_line_error(_invoke("weights", "download", "t.m", "--all"), "--all")


# --- bad downloads: one line, exit 1, nothing under the final name ---------------------------


@pytest.mark.parametrize(
    "case",
    ["404", "unreachable", "checksum", "truncated", "cut", "html", "architecture", "disk"],
)
def test_bad_download(
    case: str,
    server: Server,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ckpt: bytes,
    hybrid_ckpt: bytes,
) -> None:
    url, sha, expected = f"{server.url}/m.pth", "unknown", ()
    server.files["/m.pth"] = ckpt
    if case == "404":
        url, expected = f"{server.url}/gone.pth", ("gone.pth", "HTTP 404")
    elif case == "unreachable":
        with socket.socket() as sock:  # a port nobody listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url, expected = f"http://127.0.0.1:{port}/m.pth", (f"cannot reach 127.0.0.1:{port}",)
    elif case == "checksum":
        sha, expected = "0" * 64, ("does not match the registry", "the file was deleted")
    elif case == "truncated":
        server.files["/m.pth"] = ckpt[: len(ckpt) // 2]
        expected = ("truncated or corrupt", "the file was deleted")
    elif case == "cut":
        server.cut_after = 500_000
        expected = ("interrupted after 500000 of", "run again to resume")
    elif case == "html":
        server.files["/m.pth"] = b"<html>Quota exceeded</html>"
        expected = ("not a PyTorch or safetensors checkpoint", "the file was deleted")
    elif case == "architecture":
        server.files["/m.pth"] = hybrid_ckpt
        expected = ("does not match mlwnet (dim=4)", "the file was deleted")
    elif case == "disk":

        def full_disk(path: Path, append: bool) -> Any:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(weights, "_open_partial", full_disk)
        expected = ("cannot write", "t.m.pth.part: No space left on device")
    _registry(tmp_path, monkeypatch, _entry("t.m", url, sha=sha))
    result = _invoke("weights", "download", "t.m", "--timeout", "5")
    _one_line_error(result, "t.m", *expected)
    assert result.stdout == ""
    assert "t.m.pth" not in _leftovers(home)  # a resumable .part may stay after a cut
    assert _leftovers(home) == (["t.m.pth.part"] if case == "cut" else [])


def test_unknown_names_suggest_the_closest(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _registry(tmp_path, monkeypatch, _entry("mlwnet.gopro-w64", "https://example.invalid/m.pth"))
    for command in ("download", "path", "verify", "remove"):
        result = _invoke("weights", command, "mlwnet.gopro-w46")
        _one_line_error(
            result, "unknown weights 'mlwnet.gopro-w46'", "did you mean 'mlwnet.gopro-w64'"
        )
    assert _leftovers(home) == []


def test_broken_registry_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _registry(tmp_path, monkeypatch, _entry("t.m", "ftp://example.invalid/m.pth"))
    for args in (("weights", "list"), ("models",)):
        _one_line_error(_invoke(*args), str(path.name), "source must start with")
    _one_line_error(_invoke("weights", "list"), "registry.toml [[weights]] #1")
    path.write_text("this is = = not toml")
    _one_line_error(_invoke("weights", "list", "--json"), str(path))


# --- import --------------------------------------------------------------------------------


def test_import_new_and_registry_names(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt: bytes, hybrid_ckpt: bytes
) -> None:
    _registry(tmp_path, monkeypatch, _entry("t.m", "https://example.invalid/m.pth"))
    local = tmp_path / "by_hand.pth"
    local.write_bytes(ckpt)
    result = _invoke("weights", "import", str(local), "--name", "t.m")
    assert result.exit_code == 0, result.output
    assert f'sha256 = "{_sha(ckpt)}"' in result.stderr  # a registry name: pin its hash
    assert "Imported t.m" in result.stdout and "mlwnet (dim=4" in result.stdout
    assert _invoke("weights", "path", "t.m").stdout == f"{home / 't.m.pth'}\n"

    other = tmp_path / "hybrid.pth"
    other.write_bytes(hybrid_ckpt)
    result = _invoke("weights", "import", str(other), "--name", "my-hybrid", "--json")
    assert result.exit_code == 0, result.output
    imported = json.loads(result.stdout)
    assert (imported["model"], imported["config"]["dim"]) == ("hybridnet", 4)
    assert "weights.toml" not in result.stderr  # a new name has no registry entry to pin
    listing = json.loads(_invoke("weights", "list", "--json").stdout)
    assert [r["name"] for r in listing["imported"]] == ["my-hybrid"]
    assert "my-hybrid" in _invoke("weights", "list").stdout
    assert _invoke("weights", "verify", "my-hybrid").exit_code == 0
    assert _invoke("weights", "remove", "my-hybrid").exit_code == 0
    assert _leftovers(home) == ["t.m.pth"]


@pytest.mark.parametrize(
    "case", ["unsafe", "architecture", "extra", "missing", "truncated", "absent"]
)
def test_bad_import(
    case: str,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ckpt: bytes,
    hybrid_ckpt: bytes,
) -> None:
    _registry(tmp_path, monkeypatch, _entry("t.m", "https://example.invalid/m.pth"))
    file, name = tmp_path / "in.pth", "new-name"
    if case == "unsafe":
        file.write_bytes(EVIL)
        expected: tuple[str, ...] = ("would execute code",)
    elif case == "architecture":  # a hybridnet file under an mlwnet registry name
        file.write_bytes(hybrid_ckpt)
        name, expected = "t.m", ("does not match mlwnet (dim=4)", "the file was deleted")
    elif case == "extra":
        sd = _state_dict()
        sd["head.extra.weight"] = torch.zeros(2)
        file.write_bytes(_save({"params": sd}))
        expected = ("1 unexpected: head.extra.weight",)
    elif case == "missing":
        sd = _state_dict()
        gone = next(k for k in sd if k.startswith("decoder."))
        del sd[gone]
        file.write_bytes(_save({"params": sd}))
        expected = (f"1 missing: {gone}",)
    elif case == "truncated":
        file.write_bytes(ckpt[: len(ckpt) // 3])
        expected = ("truncated or corrupt",)
    else:
        expected = ("no such file",)
    result = _invoke("weights", "import", str(file), "--name", name)
    _one_line_error(result, str(file), *expected)
    assert _leftovers(home) == []
    assert name not in weights.read_index()


# --- convert -------------------------------------------------------------------------------


def test_convert(tmp_path: Path, ckpt: bytes) -> None:
    from safetensors.torch import load_file

    source = tmp_path / "m.pth"
    source.write_bytes(ckpt)
    out = tmp_path / "out" / "m.safetensors"
    result = _invoke("weights", "convert", str(source), str(out))
    assert result.exit_code == 0, result.output
    assert "Converted to safetensors" in result.stdout and "mlwnet (dim=4" in result.stdout
    assert set(load_file(str(out))) == set(_state_dict())

    again = tmp_path / "again.safetensors"
    report = json.loads(
        _invoke("weights", "convert", str(out), str(again), "--model", "mlwnet", "--json").stdout
    )
    assert report["model"] == "mlwnet" and report["output"] == str(again) and again.is_file()


@pytest.mark.parametrize("case", ["unsafe", "architecture", "suffix", "disk"])
def test_bad_convert(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt: bytes
) -> None:
    source = tmp_path / "m.pth"
    source.write_bytes(ckpt)
    out = tmp_path / "m.safetensors"
    extra: list[str] = []
    if case == "unsafe":
        source.write_bytes(EVIL)
        expected: tuple[str, ...] = (str(source), "would execute code")
    elif case == "architecture":
        extra, expected = ["--model", "hybridnet"], ("holds mlwnet (dim=4", "not hybridnet")
    elif case == "suffix":
        out = tmp_path / "m.pt"
        expected = (str(out), "must end in .safetensors")
    else:  # the disk fills up half way through the write
        import deblur_cli.files.atomic

        real_fdopen = os.fdopen

        class FullDisk:
            def __init__(self, fd: int, mode: str) -> None:
                self.handle = real_fdopen(fd, mode)

            def __enter__(self) -> FullDisk:
                return self

            def __exit__(self, *exc: Any) -> None:
                self.handle.close()

            def write(self, data: bytes) -> None:
                self.handle.write(data[:11])
                raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(deblur_cli.files.atomic.os, "fdopen", FullDisk)
        expected = (str(out), "No space left on device")
    _one_line_error(_invoke("weights", "convert", str(source), str(out), *extra), *expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pth"]  # no output, no temp file


# --- deblur models -------------------------------------------------------------------------


def test_models_json_shows_weights_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _registry(
        tmp_path,
        monkeypatch,
        _entry("mlwnet.a", "https://example.invalid/a.pth"),
        _entry("mlwnet.b", "https://example.invalid/b.pth"),
        _entry("ffn.c", "https://example.invalid/c.pth", model="fftformer"),
    )
    result = _invoke("models", "--json")
    assert result.exit_code == 0, result.output
    by_name = {r["name"]: r["weights"] for r in json.loads(result.stdout)}
    assert by_name["mlwnet"] == ["mlwnet.a", "mlwnet.b"]
    assert by_name["fftformer"] == ["ffn.c"] and by_name["hybridnet"] == []
    assert "mlwnet.b" in _invoke("models").stdout


def test_models_with_the_shipped_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.REGISTRY_ENV, raising=False)
    by_name = {r["name"]: r["weights"] for r in json.loads(_invoke("models", "--json").stdout)}
    assert "mlwnet.gopro-w64" in by_name["mlwnet-local"]
    assert by_name["ce-mlwnet"] == ["ce-mlwnet.seed-realblur-j"]
