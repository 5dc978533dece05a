"""`deblur export` and export/onnx.py: ONNX round trips through ONNX Runtime, the metadata
contract, atomic no-overwrite writes, and every bad input of issue #12 through the CLI.

onnx, onnxscript and onnxruntime are test dependencies (the `test` extra): a missing one fails
these tests instead of skipping them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers.restore import perturbed
from torch import nn
from typer.testing import CliRunner

from deblur_cli.cli.app import app
from deblur_cli.errors import WeightsError
from deblur_cli.export import (
    TOLERANCE,
    ExportSource,
    ExportVerificationError,
    MissingExtraError,
    OutputExistsError,
    export_onnx,
    parse_size,
    require_onnx,
)
from deblur_cli.models import TLCConfig, apply_tlc, get_spec, list_models

runner = CliRunner()


def _toy_source(model: str = "ce-mlwnet") -> ExportSource:
    """A one-conv network under a real registry entry: the export machinery in seconds."""
    torch.manual_seed(0)
    return ExportSource(nn.Conv2d(3, 3, 3, padding=1), get_spec(model), "random", None, False)


def _tiny_source(name: str) -> ExportSource:
    spec = get_spec(name)
    model = perturbed(name)
    with torch.no_grad():  # non-Hermitian DFFN gains: the matrix form's hardest case
        for key, p in model.named_parameters():
            if key.endswith(".fft"):
                p.normal_(1.0, 0.5, generator=torch.Generator().manual_seed(len(key)))
    if spec.tlc is not None:
        # Reference 32x32 (base 48): the local windows (48/24/12/6) are smaller than the
        # features of a 64x96 input, so the local path itself is exported and checked.
        model = apply_tlc(model, TLCConfig(train_size=(32, 32)))
    return ExportSource(model, spec, "random", None, spec.tlc is not None)


def _run(path: Path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def _metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


# ------------------------------------------------------------------------------------------
# Round trips of every registered model (tiny configs)


# One export per network: mlwnet is the network of mlwnet-local (exported here with its local
# converter) and is exported dynamically below; ce-mlwnet-tiny is ce-mlwnet at another width.
# Each export takes 20-80 s on two cores, so the suite does not repeat a network.
ONE_PER_NETWORK = [name for name in list_models() if name not in ("mlwnet", "ce-mlwnet-tiny")]


def test_one_per_network_covers_every_builder() -> None:
    builders = {get_spec(name).builder for name in list_models()}
    assert {get_spec(name).builder for name in ONE_PER_NETWORK} == builders
    assert any(get_spec(name).tlc is not None for name in ONE_PER_NETWORK)


@pytest.mark.slow
@pytest.mark.parametrize("name", ONE_PER_NETWORK)
def test_tiny_model_round_trip_through_onnx_runtime(name: str, tmp_path: Path) -> None:
    source = _tiny_source(name)
    m = source.spec.size_multiple
    size = (2 * m, 3 * m) if m >= 64 else (64, 96)
    report = export_onnx(source, tmp_path / "tiny.onnx", size=size)
    assert report.max_diff <= TOLERANCE
    assert report.verified_shapes == ((1, 3, *size),)
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = source.model(x).numpy()
    assert float(np.abs(_run(report.path, x) - expected).max()) <= TOLERANCE
    meta = _metadata(report.path)
    assert meta["deblur.model"] == name and meta["deblur.size_multiple"] == str(m)
    assert meta["deblur.tlc"] == str(source.tlc).lower()


@pytest.mark.slow
def test_dynamic_export_runs_sizes_it_was_not_traced_at(tmp_path: Path) -> None:
    source = _tiny_source("mlwnet")
    report = export_onnx(source, tmp_path / "dyn.onnx", dynamic=True)
    assert report.input_shape == (1, 3, "height", "width")
    assert len(report.verified_shapes) == 2 and report.max_diff <= TOLERANCE
    x = torch.rand(1, 3, 80, 48, generator=torch.Generator().manual_seed(6))  # a third size
    with torch.no_grad():
        expected = source.model(x).numpy()
    assert float(np.abs(_run(report.path, x) - expected).max()) <= TOLERANCE
    assert _metadata(report.path)["deblur.input_size"] == "dynamic"


# ------------------------------------------------------------------------------------------
# The core on a toy network: contract, writes, errors (seconds each)


def test_metadata_holds_the_input_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = export_onnx(_toy_source(), tmp_path / "toy.onnx", size=(32, 48))
    assert capsys.readouterr().out == ""  # the core never prints (torch.onnx's progress muted)
    meta = _metadata(report.path)
    assert meta["deblur.model"] == "ce-mlwnet"
    assert meta["deblur.weights"] == "random" and meta["deblur.untrained"] == "true"
    assert meta["deblur.layout"] == "NCHW" and meta["deblur.channels"] == "RGB"
    assert meta["deblur.value_range"] == "0,1" and meta["deblur.input_size"] == "32x48"
    assert meta["deblur.size_multiple"] == "16"
    assert report.input_shape == (1, 3, 32, 48) and report.bytes == report.path.stat().st_size
    assert report.opset == 18 and 0.0 <= report.max_diff <= TOLERANCE


def test_existing_output_is_kept_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export_onnx(_toy_source(), out, size=(32, 32))
    assert out.read_bytes() == b"keep me"
    export_onnx(_toy_source(), out, size=(32, 32), overwrite=True)
    assert onnx.load(str(out)).graph.node
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temp files left


def test_failed_verification_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ExportVerificationError, match="nothing written"):
        export_onnx(_toy_source(), tmp_path / "bad.onnx", size=(32, 32), tolerance=-1.0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": (30, 32)}, "multiples of 16"),
        ({"size": (32, 32), "dynamic": True}, "exclude each other"),
        ({"opset": 3}, "opset"),
    ],
)
def test_bad_options_are_typed_errors(kwargs: dict, message: str, tmp_path: Path) -> None:
    from deblur_cli.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=message):
        export_onnx(_toy_source(), tmp_path / "x.onnx", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_local_converter_exports_at_a_fixed_size_only(tmp_path: Path) -> None:
    from deblur_cli.errors import InvalidArgumentError

    source = ExportSource(nn.Identity(), get_spec("mlwnet-local"), "random", None, True)
    with pytest.raises(InvalidArgumentError, match="fixed --size"):
        export_onnx(source, tmp_path / "x.onnx", dynamic=True)


def test_parse_size() -> None:
    assert parse_size("512x768") == (512, 768) and parse_size("256") == (256, 256)
    for bad in ("", "0x64", "64x", "a x b", "-64"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'deblur-cli\[onnx\]'"):
        require_onnx()


# ------------------------------------------------------------------------------------------
# Through the CLI: one-line errors, non-zero exits, no file left


def _export(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["export", *args])
    return result.exit_code, result.output


def test_cli_rejects_an_existing_output_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "taken.onnx"
    out.write_bytes(b"old")
    code, output = _export("ce-mlwnet-tiny", "--random-weights", "-o", str(out))
    assert code != 0 and "exists" in output and "--overwrite" in output
    assert output.strip().count("\n") == 0  # one line
    assert out.read_bytes() == b"old"


@pytest.mark.parametrize("size", ["100x100", "abc", "0x64"])
def test_cli_rejects_a_bad_size(size: str, tmp_path: Path) -> None:
    out = tmp_path / "x.onnx"
    code, output = _export("fftformer", "--random-weights", "--size", size, "-o", str(out))
    assert code != 0 and "--size" in output and output.strip().count("\n") == 0
    assert not out.exists()


def test_cli_rejects_a_negative_tolerance(tmp_path: Path) -> None:
    out = tmp_path / "x.onnx"
    code, output = _export("ce-mlwnet-tiny", "--random-weights", "--tolerance", "-1", "-o", str(out))
    assert code == 2 and "--tolerance" in output and not out.exists()


def test_cli_rejects_an_unknown_model(tmp_path: Path) -> None:
    out = tmp_path / "x.onnx"
    code, output = _export("fftformr", "-o", str(out))
    assert code != 0 and "did you mean 'fftformer'" in output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_never_exports_untrained_weights_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without --random-weights a model name means its published weights; when those cannot
    # be had, the export fails instead of falling back to an untrained network.
    import deblur_cli.loading

    def no_weights(*args: object, **kwargs: object) -> None:
        raise WeightsError("weights 'fftformer-gopro' are not downloaded (offline)")

    monkeypatch.setattr(deblur_cli.loading, "load_for_inference", no_weights)
    out = tmp_path / "x.onnx"
    code, output = _export("fftformer", "-o", str(out))
    assert code != 0 and "not downloaded" in output and not out.exists()


def test_cli_rejects_random_weights_for_a_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "net.pth"
    ckpt.write_bytes(b"x")
    code, output = _export(str(ckpt), "--random-weights", "-o", str(tmp_path / "x.onnx"))
    assert code != 0 and "model name" in output


def test_cli_missing_extra_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    code, output = _export("ce-mlwnet-tiny", "--random-weights", "-o", str(tmp_path / "x.onnx"))
    assert code != 0 and "pip install 'deblur-cli[onnx]'" in output
    assert output.strip().count("\n") == 0


@pytest.mark.slow
def test_cli_exports_and_reports_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI's part (options, report, JSON) on the one-conv network under the tiny model's
    # registry entry; the networks themselves are exported in the round trips above.
    import deblur_cli.export.onnx as onnx_export

    monkeypatch.setattr(onnx_export, "load_source", lambda *a, **k: _toy_source("ce-mlwnet-tiny"))
    out = tmp_path / "tiny.onnx"
    code, output = _export("ce-mlwnet-tiny", "--random-weights", "--size", "64x64", "-o", str(out), "--json")
    assert code == 0, output
    report = json.loads(output[output.index("{") :])
    assert report["path"] == str(out) and report["max_diff"] <= TOLERANCE
    assert report["weights"] == "random" and report["input_shape"] == [1, 3, 64, 64]
    assert _metadata(out)["deblur.model"] == "ce-mlwnet-tiny"
