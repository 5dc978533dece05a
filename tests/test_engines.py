"""`--engine onnxruntime|openvino` (issue #12): the exported network replaces PyTorch's forward in
`Restorer`, equals it within the export tolerance, is exported once per weights and size (a disk
cache keyed by the weights), and every wrong use is a one-line error before weights are read."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers.restore import perturbed, write_noise
from torch import nn
from typer.testing import CliRunner

from deblur_cli.cli.app import app
from deblur_cli.errors import InvalidArgumentError
from deblur_cli.export import (
    MissingExtraError,
    OnnxEngine,
    check_engine_settings,
    onnx_cache_dir,
    require_engine,
)
from deblur_cli.inference import Restorer
from deblur_cli.models import get_spec
from deblur_cli.profiling import ProfileOptions

runner = CliRunner()
INSTALLED = [e for e in ("onnxruntime", "openvino") if importlib.util.find_spec(e) is not None]


def _toy(seed: int = 0) -> nn.Module:
    """One convolution under the tiny model's registry entry: an export takes seconds."""
    torch.manual_seed(seed)
    return nn.Conv2d(3, 3, 3, padding=1)


def _image(h: int = 40, w: int = 56) -> np.ndarray:
    return np.random.default_rng(0).random((h, w, 3), dtype=np.float32)


def test_onnxruntime_engine_equals_torch_and_is_exported_once(tmp_path: Path) -> None:
    spec = get_spec("ce-mlwnet-tiny")
    net = _toy()
    engine = OnnxEngine(net, spec, cache_dir=tmp_path)
    image = _image()
    reference, _ = Restorer(net, spec, device="cpu").restore(image)
    got, _ = Restorer(net, spec, device="cpu", engine=engine).restore(image)
    assert np.abs(got - reference).max() <= 1e-5
    again, _ = Restorer(net, spec, device="cpu", engine=engine).restore(image)
    assert engine.exports == 1 and np.array_equal(got, again)
    assert [p.suffix for p in tmp_path.iterdir()] == [".onnx"]

    # a new engine over the same weights starts from the cached file ...
    cached = OnnxEngine(_toy(), spec, cache_dir=tmp_path)
    Restorer(cached.model, spec, device="cpu", engine=cached).restore(image)
    assert cached.exports == 0
    # ... and other weights are exported anew, under another name
    other = OnnxEngine(_toy(seed=1), spec, cache_dir=tmp_path)
    assert other.onnx_path((64, 64)) != cached.onnx_path((64, 64))


def test_engine_runs_a_batch_image_by_image(tmp_path: Path) -> None:
    spec = get_spec("ce-mlwnet-tiny")
    net = _toy()
    engine = OnnxEngine(net, spec, cache_dir=tmp_path)
    x = torch.rand(3, 3, 32, 48, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = net(x)
    assert float((engine(x) - expected).abs().max()) <= 1e-5


def test_cache_dir_follows_deblur_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBLUR_HOME", str(tmp_path))
    assert onnx_cache_dir() == tmp_path / "onnx"


def test_engine_settings_are_checked() -> None:
    require_engine("torch")
    with pytest.raises(InvalidArgumentError, match="use one of torch, onnxruntime, openvino"):
        require_engine("tensorrt")
    with pytest.raises(InvalidArgumentError, match="runs in fp32"):
        check_engine_settings("onnxruntime", "cpu", "bf16")
    with pytest.raises(InvalidArgumentError, match="runs on the CPU"):
        check_engine_settings("onnxruntime", "cuda", "fp32")
    check_engine_settings("torch", "cuda", "bf16")
    with pytest.raises(InvalidArgumentError, match="PyTorch settings"):
        ProfileOptions(engine="onnxruntime", channels_last=True)


def test_engines_load_the_network_on_the_cpu_even_where_auto_would_pick_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A CUDA machine, pretended: `auto` resolves to CUDA for PyTorch, but the ONNX engines run
    # on the CPU, so the weights must not be moved to the GPU first.
    from deblur_cli.cli.engines import check_engine
    from deblur_cli.defaults import Device, Engine, Precision
    from deblur_cli.inference import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"
    assert check_engine(Engine.torch, Device.auto, Precision.fp32) is Device.auto
    assert check_engine(Engine.onnxruntime, Device.auto, Precision.fp32) is Device.cpu
    assert check_engine(Engine.onnxruntime, Device.cpu, Precision.fp32) is Device.cpu


@pytest.mark.parametrize(("engine", "extra", "module"), [("openvino", "openvino", "openvino"),
                                                         ("onnxruntime", "onnx", "onnxruntime")])  # fmt: skip
def test_missing_engine_names_the_extra(
    engine: str, extra: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=rf"pip install 'deblur-cli\[{extra}\]'"):
        require_engine(engine)


# --- the CLI ----------------------------------------------------------------------------------


def _one_line(result: object) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]  # type: ignore[attr-defined]
    assert len(lines) == 1, result.output  # type: ignore[attr-defined]
    return lines[0]


@pytest.mark.parametrize("command", ["restore", "evaluate", "profile"])
def test_cli_missing_extra_is_one_line_before_any_weights(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    image = write_noise(tmp_path / "in.png")
    args = {
        "restore": ["restore", str(image), "--model", "fftformer", "-o", str(tmp_path / "out.png")],
        "evaluate": ["evaluate", "-d", "realblur-j", "--root", str(tmp_path), "--model", "fftformer"],
        "profile": ["profile", "-m", "ce-mlwnet-tiny", "--size", "64"],
    }[command]
    result = runner.invoke(app, [*args, "--engine", "openvino"])
    assert result.exit_code == 1
    assert "pip install 'deblur-cli[openvino]'" in _one_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_cli_rejects_an_unknown_engine_and_a_bad_pairing(tmp_path: Path) -> None:
    image = write_noise(tmp_path / "in.png")
    unknown = runner.invoke(app, ["restore", str(image), "--engine", "tensorrt"])
    assert unknown.exit_code == 2 and "--engine" in unknown.output
    bf16 = runner.invoke(app, ["restore", str(image), "--engine", "onnxruntime", "--precision", "bf16"])
    assert bf16.exit_code == 1 and "runs in fp32" in _one_line(bf16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny.pth"
    torch.save({"params": perturbed("ce-mlwnet-tiny").state_dict()}, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("engine", INSTALLED)
def test_cli_restore_with_engine_matches_torch(
    engine: str, tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    home = tmp_path_factory.getbasetemp() / "engine-home"  # shared: one export for all engines
    monkeypatch.setenv("DEBLUR_HOME", str(home))
    folder = tmp_path_factory.mktemp(engine)
    image = write_noise(folder / "in.png")
    common = ["restore", str(image), "--model", "ce-mlwnet-tiny", "--weights", str(tiny_weights)]
    first = runner.invoke(app, [*common, "--engine", engine, "-o", str(folder / "engine.png")])
    assert first.exit_code == 0, first.output
    assert ("exporting" in first.output) == (engine == INSTALLED[0])  # later engines: cached
    plain = runner.invoke(app, [*common, "-o", str(folder / "torch.png")])
    assert plain.exit_code == 0, plain.output
    a = cv2.imread(str(folder / "engine.png")).astype(int)
    b = cv2.imread(str(folder / "torch.png")).astype(int)
    assert np.abs(a - b).max() <= 1  # 8-bit rounding of outputs within 1e-4
    assert len(list((home / "onnx").glob("ce-mlwnet-tiny-*.onnx"))) == 1
    again = runner.invoke(app, [*common, "--engine", engine, "-o", str(folder / "again.png")])
    assert again.exit_code == 0 and "exporting" not in again.output  # the cached file


def test_profile_times_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one-conv network in place of the model (an export in seconds); what is checked is
    # that the timed forward went through the engine and the report says so.
    import deblur_cli.profiling.run as profiling_run

    monkeypatch.setattr(profiling_run, "create", lambda name, **config: _toy())
    calls: list[tuple[int, ...]] = []
    real_call = OnnxEngine.__call__

    def counted(self: OnnxEngine, batch: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(batch.shape))
        return real_call(self, batch)

    monkeypatch.setattr(OnnxEngine, "__call__", counted)
    # `--device auto` with an engine asks for the CPU, whatever `auto` would pick
    asked: list[str] = []
    real_resolve = profiling_run.resolve_device
    monkeypatch.setattr(profiling_run, "resolve_device", lambda d: asked.append(d) or real_resolve(d))
    options = ProfileOptions(size=64, device="auto", engine="onnxruntime", iters=2, warmup=0)
    report = profiling_run.profile_model("ce-mlwnet-tiny", options)
    assert report.engine == "onnxruntime" and report.latency_ms is not None
    assert asked == ["cpu"] and report.device == "cpu"
    assert len(calls) >= 3 and set(calls) == {(1, 3, 64, 64)}  # start-up + timed passes


def test_a_damaged_cached_export_is_a_one_line_error_naming_it(tmp_path: Path) -> None:
    from deblur_cli.export import ExportError

    spec = get_spec("ce-mlwnet-tiny")
    engine = OnnxEngine(_toy(), spec, cache_dir=tmp_path)
    damaged = engine.onnx_path((32, 32))
    damaged.write_bytes(b"not an onnx file")
    with pytest.raises(ExportError, match="delete the file") as caught:
        engine(torch.rand(1, 3, 32, 32))
    assert str(damaged) in str(caught.value) and "\n" not in str(caught.value)


def test_evaluation_restores_through_the_engine(tmp_path: Path) -> None:
    from helpers.training import make_realblur_j

    from deblur_cli.datasets import open_dataset
    from deblur_cli.evaluation import run_evaluation
    from deblur_cli.loading import ReadyModel

    dataset = open_dataset(make_realblur_j(tmp_path / "rb"), dataset="realblur-j")
    net = _toy()
    shapes: list[tuple[int, ...]] = []

    def engine(batch: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(batch.shape))
        with torch.no_grad():
            return net(batch)

    ready = ReadyModel(net, get_spec("ce-mlwnet-tiny"), "toy", {}, False)
    report = run_evaluation(
        dataset, model=ready, device="cpu", engine=engine, workers=0,
        results=tmp_path / "run.jsonl",
    )  # fmt: skip
    assert report.count == len(dataset.pairs) == len(shapes) == 2
