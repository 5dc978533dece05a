"""`deblur weights` end to end through the CLI: every subcommand, `--json` on list, each bad
input as a one-line error with exit 1 and nothing half-written, `deblur models` showing the
registry's and imported weights, and `restore --weights <imported name>`. Downloads come from
a local HTTP server; checkpoints are tiny models."""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import cv2
import numpy as np
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
    saved,
    serve,
    sha256,
    tiny_state_dict,
    use_home,
    use_registry,
)
from typer.testing import CliRunner

from deblur_cli import weights
from deblur_cli.cli.app import app
from deblur_cli.models import get_spec, list_models
from deblur_cli.weights import transport

runner = CliRunner()


@pytest.fixture
def server() -> Iterator[Server]:
    with serve() as state:
        yield state


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_home(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def ckpt() -> bytes:
    return checkpoint_bytes("mlwnet", dim=4)  # ~1.6 MB


@pytest.fixture(scope="module")
def hybrid_ckpt() -> bytes:
    return checkpoint_bytes("hybridnet", dim=4)


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
    use_registry(
        tmp_path,
        monkeypatch,
        entry_toml("t.m", f"{server.url}/m.pth"),
        entry_toml("t.pinned", f"{server.url}/pinned.pth", sha=sha256(ckpt)),
        entry_toml("t.absent", f"{server.url}/absent.pth"),
    )

    result = _invoke("weights", "download", "t.m", "t.pinned")
    assert result.exit_code == 0, result.output
    assert "t.m" in result.stdout and "t.pinned" in result.stdout and "downloaded" in result.stdout
    # no hash in the registry: the observed one is printed (stderr) to be pinned
    assert f'sha256 = "{sha256(ckpt)}"' in result.stderr and "weights.toml" in result.stderr
    assert result.stderr.count("verified structurally") == 1  # not for t.pinned
    assert leftovers(home) == ["t.m.pth", "t.pinned.pth"]

    again = _invoke("weights", "download", "t.m")
    assert again.exit_code == 0 and "t.m: already cached" in again.stderr

    path = _invoke("weights", "path", "t.m")
    assert path.exit_code == 0 and path.stdout == f"{home / 't.m.pth'}\n"
    as_json = json.loads(_invoke("weights", "path", "t.m", "--json").stdout)
    assert as_json["sha256"] == sha256(ckpt) and as_json["verified_by"] == "structure"

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
    assert leftovers(home) == ["t.pinned.pth"]
    _one_line_error(_invoke("weights", "path", "t.m"), "'t.m'", "not downloaded yet")
    freed = json.loads(_invoke("weights", "remove", "t.pinned", "--json").stdout)["freed_bytes"]
    assert freed == len(ckpt)


def test_download_draws_a_progress_bar_on_a_terminal(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt: bytes
) -> None:
    from deblur_cli.cli import output

    server.files["/m.pth"] = ckpt
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", f"{server.url}/m.pth", sha=sha256(ckpt)))
    server.pause = 0.4
    monkeypatch.setattr(output.stderr, "_force_terminal", True)  # as on an interactive shell
    monkeypatch.setattr(output.stderr, "is_interactive", True)
    result = _invoke("weights", "download", "t.m")
    assert result.exit_code == 0, result.output
    assert "downloading t.m" in result.stderr and "MB" in result.stderr
    assert "downloading" not in result.stdout  # results only on stdout
    assert leftovers(home) == ["t.m.pth"]


def test_download_all_continues_after_a_failure(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt: bytes
) -> None:
    server.files["/m.pth"] = ckpt
    use_registry(
        tmp_path,
        monkeypatch,
        entry_toml("t.gone", f"{server.url}/gone.pth"),
        entry_toml("t.m", f"{server.url}/m.pth"),
    )
    result = _invoke("weights", "download", "--all", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [r["name"] for r in report["results"]] == ["t.m"]
    assert report["errors"][0][0] == "t.gone"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "t.gone" in errors[0] and "HTTP 404" in errors[0]
    assert leftovers(home) == ["t.m.pth"]

    # several names: a typo and a 404 are both reported, the good one still lands
    _invoke("weights", "remove", "t.m")
    result = _invoke("weights", "download", "t.gone", "t.mm", "t.m")
    assert result.exit_code == 1 and "t.m" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert "t.gone" in errors[0] and "HTTP 404" in errors[0]
    assert "unknown weights 't.mm'" in errors[1] and "did you mean" in errors[1]
    assert leftovers(home) == ["t.m.pth"]

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
    deleted = "the downloaded file was deleted"
    if case == "404":
        url, expected = f"{server.url}/gone.pth", ("gone.pth", "HTTP 404")
    elif case == "unreachable":
        port = closed_port()
        url, expected = f"http://127.0.0.1:{port}/m.pth", (f"cannot reach 127.0.0.1:{port}",)
    elif case == "checksum":
        sha, expected = "0" * 64, ("does not match the registry", deleted)
    elif case == "truncated":
        server.files["/m.pth"] = ckpt[: len(ckpt) // 2]
        expected = ("truncated or corrupt", deleted)
    elif case == "cut":
        server.cut_after = 500_000
        expected = ("interrupted after 500000 of", "run again to resume")
    elif case == "html":
        server.files["/m.pth"] = b"<html>Quota exceeded</html>"
        expected = ("not a PyTorch or safetensors checkpoint", deleted)
    elif case == "architecture":
        server.files["/m.pth"] = hybrid_ckpt
        expected = ("holds hybridnet (", "not mlwnet (dim=4)", deleted)
    elif case == "disk":

        def full_disk(path: Path, append: bool) -> Any:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(transport, "open_partial", full_disk)
        expected = ("cannot write", "t.m.pth.part: No space left on device")
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", url, sha=sha))
    result = _invoke("weights", "download", "t.m", "--timeout", "5")
    _one_line_error(result, "t.m", *expected)
    assert result.stdout == ""
    assert leftovers(home) == (["t.m.pth.part"] if case == "cut" else [])


def test_cached_file_failing_verification_is_kept_aside_and_reported(
    server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt: bytes
) -> None:
    server.files["/m.pth"] = ckpt
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", f"{server.url}/m.pth"))
    assert _invoke("weights", "download", "t.m").exit_code == 0
    damaged = ckpt[: len(ckpt) // 2]
    (home / "t.m.pth").write_bytes(damaged)
    result = _invoke("weights", "download", "t.m")
    line = _one_line_error(result, "t.m: the cached file failed verification", "kept as")
    (kept,) = [name for name in leftovers(home) if ".rejected-" in name]
    assert kept in line and (home / kept).read_bytes() == damaged
    assert len(server.requests) == 1  # no silent second download
    again = _invoke("weights", "download", "t.m")  # the user's next explicit download
    assert again.exit_code == 0, again.output
    assert sorted(leftovers(home)) == sorted(["t.m.pth", kept])


def test_offline_drive_error_is_complete_and_short(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_registry(tmp_path, monkeypatch, entry_toml("t.file", "gdrive:FILEID"))
    cause = requests.ConnectionError(
        "HTTPSConnectionPool(host='drive.google.com', port=443): Max retries exceeded with url: "
        f'/uc?id={"F" * 300} (Caused by NameResolutionError("Failed to resolve"))'
    )
    cause.__cause__ = OSError(-3, "Temporary failure in name resolution")
    with mock.patch("gdown.download", autospec=True, side_effect=cause):
        result = _invoke("weights", "download", "t.file")
    line = _one_line_error(result)
    assert (
        line == "error: t.file: cannot reach drive.google.com: Temporary failure in name resolution"
    )


def test_unknown_names_suggest_only_close_ones(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_registry(
        tmp_path,
        monkeypatch,
        entry_toml("mlwnet.gopro-w64", "https://example.invalid/m.pth"),
        entry_toml("fftformer.realblur", "https://example.invalid/f.pth", model="fftformer"),
    )
    for command in ("download", "path", "verify", "remove"):
        result = _invoke("weights", command, "mlwnet.gopro-w46")
        _one_line_error(
            result, "unknown weights 'mlwnet.gopro-w46'", "did you mean 'mlwnet.gopro-w64'"
        )
        line = _one_line_error(_invoke("weights", command, "fftformer.gopro"))
        assert "did you mean" not in line
    assert leftovers(home) == []


def test_broken_registry_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = use_registry(tmp_path, monkeypatch, entry_toml("t.m", "ftp://example.invalid/m.pth"))
    for args in (("weights", "list"), ("models",)):
        _one_line_error(_invoke(*args), str(path.name), "source must start with")
    _one_line_error(_invoke("weights", "list"), "registry.toml [[weights]] #1")
    path.write_text("this is = = not toml")
    _one_line_error(_invoke("weights", "list", "--json"), str(path))


def test_binary_registry_and_cache_index_are_one_line(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = use_registry(tmp_path, monkeypatch)
    path.write_bytes(bytes(range(256)))
    for args in (("weights", "list"), ("models", "--json"), ("weights", "path", "x")):
        _one_line_error(_invoke(*args), str(path), "not a UTF-8 text file")
    path.write_text(entry_toml("t.m", "https://example.invalid/m.pth"))
    home.mkdir(parents=True)
    (home / weights.INDEX_NAME).write_bytes(b"\x00\xff" * 100)
    for args in (("weights", "list"), ("weights", "path", "t.m"), ("models",)):
        _one_line_error(_invoke(*args), "cache index", "not a UTF-8 text file")


def test_list_keeps_the_dataset_column_to_the_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.REGISTRY_ENV, raising=False)
    result = _invoke("weights", "list")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "fftformer.realblur" in line)
    assert "RealBlur" in row and "README" not in result.stdout
    notes = json.loads(_invoke("weights", "list", "--json").stdout)["weights"]
    by_name = {w["entry"]["name"]: w["entry"] for w in notes}
    assert "RealBlur-J or a RealBlur-R" in by_name["fftformer.realblur"]["notes"]


# --- import --------------------------------------------------------------------------------


def test_import_new_and_registry_names(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt: bytes, hybrid_ckpt: bytes
) -> None:
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", "https://example.invalid/m.pth"))
    local = tmp_path / "by_hand.pth"
    local.write_bytes(ckpt)
    result = _invoke("weights", "import", str(local), "--name", "t.m")
    assert result.exit_code == 0, result.output
    assert f'sha256 = "{sha256(ckpt)}"' in result.stderr  # a registry name: pin its hash
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
    assert leftovers(home) == ["t.m.pth"]


def test_import_over_an_existing_name_needs_overwrite_and_orphans_nothing(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt: bytes, hybrid_ckpt: bytes
) -> None:
    use_registry(tmp_path, monkeypatch)
    first = tmp_path / "mine.pth"
    first.write_bytes(ckpt)
    assert _invoke("weights", "import", str(first), "--name", "mine").exit_code == 0
    pth = tmp_path / "hybrid.pth"
    pth.write_bytes(hybrid_ckpt)
    other = tmp_path / "hybrid.safetensors"  # another architecture and another suffix
    assert _invoke("weights", "convert", str(pth), str(other)).exit_code == 0

    refused = _invoke("weights", "import", str(other), "--name", "mine")
    _one_line_error(refused, "weights 'mine' already exist", "mlwnet", "--overwrite")
    assert leftovers(home) == ["mine.pth"]
    assert json.loads(_invoke("weights", "path", "mine", "--json").stdout)["sha256"] == sha256(ckpt)

    replaced = _invoke("weights", "import", str(other), "--name", "mine", "--overwrite", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(replaced.stdout)["model"] == "hybridnet"
    assert f"mine: replaced {home / 'mine.pth'}" in replaced.stderr
    assert leftovers(home) == ["mine.safetensors"]  # the old file went with its record
    assert _invoke("weights", "remove", "mine").exit_code == 0
    assert leftovers(home) == [] and first.read_bytes() == ckpt


def test_import_of_another_architecture_under_a_registry_name_keeps_the_users_file(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hybrid_ckpt: bytes
) -> None:
    use_registry(
        tmp_path,
        monkeypatch,
        entry_toml("ce.seed", "https://example.invalid/m.pth", model="ce-mlwnet"),
    )
    file = tmp_path / "HybridNet_d4.pth"
    file.write_bytes(hybrid_ckpt)
    result = _invoke("weights", "import", str(file), "--name", "ce.seed")
    line = _one_line_error(
        result, "holds hybridnet (", "not ce-mlwnet", "not imported as 'ce.seed'"
    )
    assert "deleted" not in line
    assert file.read_bytes() == hybrid_ckpt and leftovers(home) == []


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
    use_registry(tmp_path, monkeypatch, entry_toml("t.m", "https://example.invalid/m.pth"))
    file, name = tmp_path / "in.pth", "new-name"
    if case == "unsafe":
        file.write_bytes(EVIL)
        expected: tuple[str, ...] = ("would execute code",)
    elif case == "architecture":  # a hybridnet file under an mlwnet registry name
        file.write_bytes(hybrid_ckpt)
        name, expected = "t.m", ("not mlwnet (dim=4)", "not imported as 't.m'")
    elif case == "extra":
        sd = tiny_state_dict("mlwnet", dim=4)
        sd["head.extra.weight"] = torch.zeros(2)
        file.write_bytes(saved({"params": sd}))
        expected = ("1 unexpected: head.extra.weight",)
    elif case == "missing":
        sd = tiny_state_dict("mlwnet", dim=4)
        gone = next(k for k in sd if k.startswith("decoder."))
        del sd[gone]
        file.write_bytes(saved({"params": sd}))
        expected = (f"1 missing: {gone}",)
    elif case == "truncated":
        file.write_bytes(ckpt[: len(ckpt) // 3])
        expected = ("truncated or corrupt",)
    else:
        expected = ("no such file",)
    result = _invoke("weights", "import", str(file), "--name", name)
    _one_line_error(result, str(file), *expected)
    assert leftovers(home) == []
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
    assert set(load_file(str(out))) == set(tiny_state_dict("mlwnet", dim=4))

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


# --- deblur models and restore with imported weights ------------------------------------------


def test_models_json_shows_weights_entries(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_registry(
        tmp_path,
        monkeypatch,
        entry_toml("mlwnet.a", "https://example.invalid/a.pth"),
        entry_toml("mlwnet.b", "https://example.invalid/b.pth"),
        entry_toml("ffn.c", "https://example.invalid/c.pth", model="fftformer"),
    )
    result = _invoke("models", "--json")
    assert result.exit_code == 0, result.output
    by_name = {r["name"]: r["weights"] for r in json.loads(result.stdout)}
    assert by_name["mlwnet"] == ["mlwnet.a", "mlwnet.b"]
    assert by_name["fftformer"] == ["ffn.c"] and by_name["hybridnet"] == []
    assert "mlwnet.b" in _invoke("models").stdout


def test_models_lists_imported_weights(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_registry(tmp_path, monkeypatch)
    # models with their own detection rule (mlwnet-local is detected as mlwnet, ce-mlwnet-tiny
    # as ce-mlwnet: imports are recorded under the detected name)
    detected = [m for m in list_models() if get_spec(m).detect is not None]
    for model in detected:
        file = tmp_path / f"{model}.pth"
        file.write_bytes(checkpoint_bytes(model))  # the registry's tiny config
        result = _invoke("weights", "import", str(file), "--name", f"lab.{model}")
        assert result.exit_code == 0, result.output
    by_name = {r["name"]: r["weights"] for r in json.loads(_invoke("models", "--json").stdout)}
    assert {m: by_name[m] for m in detected} == {m: [f"lab.{m}"] for m in detected}
    table = _invoke("models")
    assert table.exit_code == 0 and all(f"lab.{m}" in table.stdout for m in detected)


def test_restore_with_an_imported_name(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ckpt: bytes
) -> None:
    use_registry(tmp_path, monkeypatch)
    file = tmp_path / "mine.pth"
    file.write_bytes(ckpt)
    assert _invoke("weights", "import", str(file), "--name", "lab.mine").exit_code == 0
    image = (np.random.RandomState(0).rand(24, 40, 3) * 255).astype(np.uint8)
    src = tmp_path / "blurry.png"
    cv2.imwrite(str(src), image)
    out = tmp_path / "sharp.png"
    result = _invoke("restore", str(src), "-o", str(out), "--weights", "lab.mine", "--json")
    assert result.exit_code == 0, result.output
    restored = cv2.imread(str(out))
    assert restored is not None and restored.shape == image.shape
    assert re.search(r'"status": ?"ok"', result.stdout)


def test_models_with_the_shipped_registry(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.delenv(weights.REGISTRY_ENV, raising=False)
    by_name = {r["name"]: r["weights"] for r in json.loads(_invoke("models", "--json").stdout)}
    assert "mlwnet.gopro-w64" in by_name["mlwnet-local"]
    assert by_name["ce-mlwnet"] == ["ce-mlwnet.seed-realblur-j"]
