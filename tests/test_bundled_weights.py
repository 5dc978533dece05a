"""Weights shipped inside the package (`source = "bundled:<file>"`) and the default model switch:
an fp16 safetensors file loads strictly as fp32, is checked by sha256, never touches the
network nor the cache, and is what `deblur restore` uses when `DEFAULT_MODEL` names its model.
The bundled file here is built in a temporary folder (`bundled_dir` monkeypatched): the real
default model is trained separately and exported with tools/bundle_default_model.py."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from helpers.weights import entry_toml, sha256, use_home, use_registry
from safetensors.torch import save
from typer.testing import CliRunner

import deblur_cli.inference.loading as loading
import deblur_cli.weights.bundled as bundled
from deblur_cli import weights
from deblur_cli.cli.app import app
from deblur_cli.defaults import DEFAULT_MODEL
from deblur_cli.errors import ChecksumMismatchError, RegistryError, StateDictMismatchError
from deblur_cli.inference import default_weights, load_for_inference
from deblur_cli.models import create
from deblur_cli.training.state import best_checkpoint

ROOT = Path(__file__).resolve().parents[1]
NAME = "ce-mlwnet-tiny.test"
FILE = "tiny.safetensors"
runner = CliRunner()


def tiny_fp16_state_dict() -> dict[str, torch.Tensor]:
    """`create("ce-mlwnet-tiny")` with randomised residual scales, floating tensors in fp16."""
    torch.manual_seed(0)
    net = create("ce-mlwnet-tiny")
    with torch.no_grad():
        for key, p in net.named_parameters():
            if key.endswith(("beta", "gamma", "alpha")):
                p.normal_(0, 0.5)  # otherwise the untrained network is an identity
    return {
        k: (v.half() if v.is_floating_point() else v).clone().contiguous()
        for k, v in net.state_dict().items()
    }


@pytest.fixture(scope="module")
def tiny_bytes() -> bytes:
    return save(tiny_fp16_state_dict(), metadata={"format": "pt"})


def bundled_entry(sha: str, file: str = FILE) -> str:
    return entry_toml(
        NAME, f"bundled:{file}", sha=sha, model="ce-mlwnet-tiny", config="{ dim = 8 }",
        container="plain", file=file,
    )  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_home(tmp_path, monkeypatch)


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_bytes: bytes, home: Path) -> Path:
    """A package data folder holding the tiny file, and a registry with its bundled entry."""
    folder = tmp_path / "package" / "weights"
    folder.mkdir(parents=True)
    (folder / FILE).write_bytes(tiny_bytes)
    monkeypatch.setattr(bundled, "bundled_dir", lambda: folder)
    use_registry(tmp_path, monkeypatch, bundled_entry(sha256(tiny_bytes)))
    return folder


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Networking disabled: every connection attempt is recorded and refused."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _one_line_error(result: Any, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _photo(path: Path) -> Path:
    image = (np.random.RandomState(0).rand(40, 56, 3) * 255).astype(np.uint8)
    cv2.imwrite(str(path), image)
    return path


# --- loading ---------------------------------------------------------------------------------


def test_bundled_weights_load_strictly_as_fp32(package: Path, offline: list[Any]) -> None:
    loaded = weights.load_pretrained(NAME)
    assert (loaded.name, loaded.config["dim"], loaded.dropped_keys) == ("ce-mlwnet-tiny", 8, ())
    stored = tiny_fp16_state_dict()
    for key, value in loaded.model.state_dict().items():
        expected = stored[key]
        assert value.dtype == (torch.float32 if expected.is_floating_point() else expected.dtype)
        assert torch.equal(value, expected.to(value.dtype)), key
    assert offline == []


def test_the_dtype_cast_keeps_the_strict_match(tmp_path: Path) -> None:
    from deblur_cli.checkpoints import load_model

    state = tiny_fp16_state_dict()
    state.pop(next(iter(state)))
    path = tmp_path / "short.safetensors"
    path.write_bytes(save(state))
    with pytest.raises(StateDictMismatchError, match="1 missing"):
        load_model(path, "ce-mlwnet-tiny")


@pytest.mark.parametrize("model", [None, "ce-mlwnet-tiny", "ce-mlwnet"])
def test_the_file_by_path_is_detected_and_loads(
    package: Path, model: str | None
) -> None:
    # detected as ce-mlwnet at dim 8: the same network as ce-mlwnet-tiny, either name loads it
    loaded = weights.load_pretrained(package / FILE, model=model)
    assert loaded.config["dim"] == 8
    assert loaded.name == (model or "ce-mlwnet")
    assert next(loaded.model.parameters()).dtype == torch.float32


def test_a_corrupted_byte_is_a_one_line_error(package: Path, tiny_bytes: bytes) -> None:
    damaged = bytearray(tiny_bytes)
    damaged[-100] ^= 0xFF
    (package / FILE).write_bytes(bytes(damaged))
    with pytest.raises(ChecksumMismatchError, match="reinstall deblur-cli") as info:
        weights.load_pretrained(NAME)
    assert "\n" not in str(info.value) and "damaged" in str(info.value)


def test_a_missing_bundled_file_says_reinstall(package: Path, tmp_path: Path) -> None:
    (package / FILE).unlink()
    result = _invoke("restore", str(_photo(tmp_path / "p.png")), "--model", "ce-mlwnet-tiny")
    line = _one_line_error(result, "missing from the installed package", "reinstall deblur-cli")
    assert NAME in line


def test_verification_happens_once_per_process(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    real = bundled.sha256_file
    monkeypatch.setattr(bundled, "sha256_file", lambda p: calls.append(p) or real(p))
    for _ in range(3):
        weights.resolve(NAME)
    assert calls == [package / FILE]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (bundled_entry("unknown"), "bundled weights need their sha256"),
        (bundled_entry("a" * 64, file="../up.safetensors"), "bundled:<file> must name"),
        (bundled_entry("a" * 64, file="notes.txt"), "bundled:<file> must name"),
        (bundled_entry("a" * 64).replace(f'file = "{FILE}"', 'file = "x.pth"'), "file must be"),
    ],
)
def test_registry_validates_bundled_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, message: str
) -> None:
    use_registry(tmp_path, monkeypatch, entry)
    with pytest.raises(RegistryError, match=re.escape(message)):
        weights.load_registry()


# --- the default model -----------------------------------------------------------------------


def test_default_weights_prefer_the_models_own_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_bytes: bytes
) -> None:
    # listed first, the tiny entry must not become ce-mlwnet's default (another width), and
    # ce-mlwnet-tiny must get its own entry, not a same-network one
    ce = entry_toml("ce.seed", "https://example.invalid/ce.pth", model="ce-mlwnet", config="{}")
    use_registry(tmp_path, monkeypatch, bundled_entry(sha256(tiny_bytes)), ce)
    assert default_weights("ce-mlwnet-tiny").name == NAME
    assert default_weights("ce-mlwnet").name == "ce.seed"


def test_load_for_inference_without_arguments_uses_default_model(
    package: Path, monkeypatch: pytest.MonkeyPatch, offline: list[Any]
) -> None:
    monkeypatch.setattr(loading, "DEFAULT_MODEL", "ce-mlwnet-tiny")
    ready = load_for_inference()
    assert (ready.spec.name, ready.weights, ready.tlc) == ("ce-mlwnet-tiny", NAME, False)
    assert offline == []


@pytest.mark.parametrize("args", [("--model", "ce-mlwnet-tiny"), ()])
def test_restore_uses_the_bundled_file_offline(
    package: Path,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    offline: list[Any],
    args: tuple[str, ...],
) -> None:
    # () is the bare `deblur restore photo.png` once DEFAULT_MODEL names the bundled model
    monkeypatch.setattr(loading, "DEFAULT_MODEL", "ce-mlwnet-tiny")
    src = _photo(tmp_path / "photo.png")
    result = _invoke("restore", str(src), *args, "--json")
    assert result.exit_code == 0, result.output
    out = tmp_path / "photo_deblurred.png"
    restored = cv2.imread(str(out))
    assert restored is not None and restored.shape == (40, 56, 3)
    assert not np.array_equal(restored, cv2.imread(str(src)))  # the network did something
    assert offline == []
    assert not home.exists() or not any(home.iterdir())  # nothing copied into the cache


def test_shipped_bundled_weights_match_their_registry(
    monkeypatch: pytest.MonkeyPatch, home: Path, offline: list[Any]
) -> None:
    """Every bundled entry of the shipped registry has its file in the package, matching its
    sha256 and loading strictly; and DEFAULT_MODEL's default weights, when bundled, are one."""
    monkeypatch.delenv(weights.REGISTRY_ENV, raising=False)
    shipped = [e for e in weights.load_registry().values() if e.bundled_file is not None]
    for entry in shipped:
        assert entry.sha256 is not None and entry.container == "plain", entry.name
        assert not entry.aux_head_keys and entry.licence.startswith("Apache-2.0"), entry.name
        assert weights.locate(entry.name).path.parent == bundled.bundled_dir()
        weights.load_pretrained(entry.name)
    default = default_weights(DEFAULT_MODEL)
    if default.bundled_file is not None:
        assert load_for_inference().weights == default.name
    assert offline == []


# --- deblur weights --------------------------------------------------------------------------


def test_weights_list_shows_it_present(package: Path, offline: list[Any]) -> None:
    rows = json.loads(_invoke("weights", "list", "--json").stdout)["weights"]
    (row,) = rows
    assert row["path"] == str(package / FILE) and row["bundled"] is True
    table = _invoke("weights", "list")
    assert table.exit_code == 0 and "bundled" in table.stdout
    assert offline == []


def test_weights_path_verify_and_download_need_no_network(
    package: Path, home: Path, offline: list[Any]
) -> None:
    path = _invoke("weights", "path", NAME)
    assert path.exit_code == 0 and path.stdout.strip() == str(package / FILE)
    verify = _invoke("weights", "verify")
    assert verify.exit_code == 0 and NAME in verify.stdout, verify.output
    download = _invoke("weights", "download", NAME)
    assert download.exit_code == 0, download.output
    assert offline == [] and not home.exists()


def test_weights_verify_reports_a_damaged_file(package: Path, tiny_bytes: bytes) -> None:
    (package / FILE).write_bytes(tiny_bytes[:-1] + b"\0")
    result = _invoke("weights", "verify", NAME, "--json")
    assert result.exit_code == 1
    (row,) = json.loads(result.stdout)["results"]
    assert (row["ok"], row["method"]) == (False, "sha256")
    assert "reinstall deblur-cli" in row["message"] and row["observed_sha256"] != row["expected_sha256"]


def test_weights_remove_refuses_bundled(package: Path) -> None:
    result = _invoke("weights", "remove", NAME)
    _one_line_error(result, "bundled with deblur-cli", "cannot be removed")
    assert (package / FILE).is_file()


def test_weights_import_refuses_a_bundled_name(package: Path, tmp_path: Path) -> None:
    result = _invoke("weights", "import", str(package / FILE), "--name", NAME)
    _one_line_error(result, "bundled with deblur-cli", "choose another --name")


# --- tools/bundle_default_model.py -----------------------------------------------------------


def _tool(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """tools/ is not a package: load the script as a module (registered, as dataclasses need)."""
    spec = importlib.util.spec_from_file_location(
        "bundle_default_model", ROOT / "tools" / "bundle_default_model.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def _best_pt(run: Path) -> Path:
    """A `deblur train` best.pt of CE-MLWNet width 8 without aux heads (the default recipe)."""
    torch.manual_seed(0)
    params = create("ce-mlwnet", dim=8).state_dict()
    run.mkdir(parents=True)
    recipe = {"description": "test run", "data": {"root": str(run / "photos")}}
    container = best_checkpoint(
        params=params, model_name="ce-mlwnet", model_config={"dim": 8, "aux_heads": False},
        step=1234, metric={"psnr": 30.0}, recipe=recipe,
    )  # fmt: skip
    torch.save(container, run / "best.pt")
    (run / "photos").mkdir()
    with (run / "photos" / "MANIFEST.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "package", "licence"])
        writer.writerows([["a.png", "lomiri", "CC-BY-4.0"], ["b.png", "mate", "GPL-2+"]])
    return run / "best.pt"


def test_bundle_tool_writes_fp16_and_a_registry_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    best = _best_pt(tmp_path / "runs" / "default-tiny")
    out = tmp_path / "pkg"
    code = _tool(monkeypatch).main([str(best), "--name", "tiny.v1", "--out-dir", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    file = out / "tiny.v1.safetensors"
    from safetensors import safe_open

    with safe_open(str(file), "pt") as f:
        meta = f.metadata()
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    assert dtypes == {torch.float16}
    assert (meta["model"], meta["recipe"], meta["steps"]) == ("ce-mlwnet-tiny", "default-tiny", "1234")
    assert json.loads(meta["config"]) == {"dim": 8}
    assert f"sha256 {sha256(file.read_bytes())}" in printed
    block = printed[printed.index("[[weights]]") :]
    for text in ('source = "bundled:tiny.v1.safetensors"', 'licence = "Apache-2.0', "CC-BY-4.0: 1", "GPL-2+: 1"):
        assert text in block
    # the printed table is a working registry: pasted, the file loads as ce-mlwnet-tiny in fp32
    (tmp_path / "weights.toml").write_text(block)
    monkeypatch.setenv(weights.REGISTRY_ENV, str(tmp_path / "weights.toml"))
    monkeypatch.setattr(bundled, "bundled_dir", lambda: out)
    assert default_weights("ce-mlwnet-tiny").name == "tiny.v1"
    loaded = weights.load_pretrained("tiny.v1")
    assert loaded.name == "ce-mlwnet-tiny" and next(loaded.model.parameters()).dtype == torch.float32


def test_bundle_tool_refuses_a_file_over_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    best = _best_pt(tmp_path / "runs" / "default-tiny")
    tool = _tool(monkeypatch)
    monkeypatch.setattr(tool, "MAX_BYTES", 1000)
    assert tool.main([str(best), "--name", "big", "--out-dir", str(tmp_path / "pkg")]) == 1
    assert "over the 1,000-byte limit" in capsys.readouterr().err
    assert not (tmp_path / "pkg").exists()


# --- the wheel -------------------------------------------------------------------------------


@pytest.mark.slow
def test_wheel_carries_bundled_weights(tmp_path: Path) -> None:
    """`pip wheel .` of a copy of the project, with a probe file in data/weights/: the
    package-data glob takes it (and the real bundled files, if any), and the wheel stays small."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "deblur_cli", src / "deblur_cli", ignore=shutil.ignore_patterns("__pycache__")
    )
    shipped = sorted(p.name for p in (ROOT / "deblur_cli" / "data" / "weights").glob("*.safetensors"))
    probe = src / "deblur_cli" / "data" / "weights" / "probe.safetensors"
    probe.parent.mkdir(exist_ok=True)
    probe.write_bytes(save({"x": torch.zeros(1)}))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path / "dist")],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        record = zf.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
    assert "deblur_cli/data/weights.toml" in record
    for name in [*shipped, "probe.safetensors"]:
        assert f"deblur_cli/data/weights/{name}" in names
    assert wheel.stat().st_size < 10_000_000
