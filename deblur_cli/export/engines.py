"""Other CPU runtimes for a loaded network (`--engine onnxruntime|openvino`): the network is
exported to ONNX per input size on first use (verified against PyTorch by `export_onnx`) and
kept in a disk cache keyed by its weights, so later runs start at once.

Measured on the 2-core CPU (docs/benchmarks.md, "CPU engines"): PyTorch with channels_last is
the fastest engine at 512x512 and RealBlur sizes, ONNX Runtime only at 256x256 tiles; so the
default engine stays PyTorch and these are opt-in, from the `onnx` / `openvino` extras.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..defaults import Device, Engine, Precision
from ..errors import InvalidArgumentError
from ..models import ModelSpec
from ..weights import HOME_ENV
from .onnx import INPUT_NAME, ExportError, ExportSource, export_onnx, require_modules
from .options import DEFAULT_OPSET, TOLERANCE

EXTRAS = {Engine.onnxruntime.value: "onnx", Engine.openvino.value: "openvino"}
_MODULES = {
    Engine.onnxruntime.value: ("onnx", "onnxscript", "onnxruntime"),
    Engine.openvino.value: ("onnx", "onnxscript", "onnxruntime", "openvino"),
}


def require_engine(engine: str) -> None:
    """Fail with the install command unless `engine` and what exports for it are installed.

    Raises:
        InvalidArgumentError: an unknown engine name.
        MissingExtraError: a module of its extra is missing.
    """
    if engine == Engine.torch.value:
        return
    if engine not in _MODULES:
        names = ", ".join(e.value for e in Engine)
        raise InvalidArgumentError(f"--engine {engine!r}: use one of {names}")
    require_modules(_MODULES[engine], f"--engine {engine} needs", EXTRAS[engine])


def check_engine_settings(engine: str, device: str, precision: str) -> str:
    """ONNX Runtime and OpenVINO run here on the CPU in float32.

    Returns the device to load the network on: `device` for PyTorch, "cpu" for the ONNX engines
    (so `auto` on a CUDA machine does not move the weights to the GPU only to export them).

    Raises:
        InvalidArgumentError: another device or precision with a non-torch engine.
    """
    if engine == Engine.torch.value:
        return device
    if device not in (Device.cpu.value, Device.auto.value) and not device.startswith("cpu"):
        raise InvalidArgumentError(f"--engine {engine} runs on the CPU; drop --device {device}")
    if precision != Precision.fp32.value:
        raise InvalidArgumentError(
            f"--engine {engine} runs in fp32; drop --precision {precision}"
        )
    return Device.cpu.value


def onnx_cache_dir() -> Path:
    """`$DEBLUR_HOME/onnx`, else `user_cache_dir("deblur")/onnx`."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "onnx"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("deblur")) / "onnx"


def weights_key(model: nn.Module, spec: ModelSpec, tlc: bool) -> str:
    """16 hex digits naming the network and its exact weights (and what shapes the export)."""
    digest = hashlib.sha256(f"{spec.name}|tlc={tlc}|opset={DEFAULT_OPSET}|{__version__}".encode())
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class OnnxEngine:
    """A forward pass through ONNX Runtime or OpenVINO, for `Restorer(engine=...)`.

    Called with an N×3×H×W float tensor (H, W multiples of the model's size multiple), it runs
    each image through a session made for that size, exporting `<cache>/<model>-<key>-HxW.onnx`
    first when it is not cached yet. Every export is verified against PyTorch (max difference
    `tolerance`, default 1e-4) before the file is written, so a cached file is a checked one.

    Raises (from the first call at a new size):
        MissingExtraError: the engine's extra is not installed.
        ExportError: the network cannot be exported or does not match PyTorch.
    """

    def __init__(
        self,
        model: nn.Module,
        spec: ModelSpec,
        *,
        engine: str = Engine.onnxruntime.value,
        tlc: bool = False,
        weights: str = "unknown",
        threads: int | None = None,
        cache_dir: Path | None = None,
        on_export: Callable[[tuple[int, int]], None] | None = None,
        tolerance: float = TOLERANCE,
    ) -> None:
        require_engine(engine)
        if engine == Engine.torch.value:
            raise InvalidArgumentError("OnnxEngine runs onnxruntime or openvino, not torch")
        self.engine = engine
        self.model = model.eval()
        self.spec = spec
        self.tlc = tlc
        self.weights = weights
        self.threads = threads or torch.get_num_threads()
        self.cache_dir = cache_dir or onnx_cache_dir()
        self.on_export = on_export
        self.tolerance = tolerance
        self.exports = 0  # files exported by this engine (cache misses)
        self._key: str | None = None
        self._sessions: dict[tuple[int, int], Callable[[np.ndarray], np.ndarray]] = {}

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        run = self._session((int(batch.shape[-2]), int(batch.shape[-1])))
        images = batch.detach().float().cpu().contiguous().numpy()
        out = [run(images[i : i + 1]) for i in range(images.shape[0])]
        return torch.from_numpy(np.concatenate(out, axis=0))

    def onnx_path(self, size: tuple[int, int]) -> Path:
        if self._key is None:
            self._key = weights_key(self.model, self.spec, self.tlc)
        return self.cache_dir / f"{self.spec.name}-{self._key}-{size[0]}x{size[1]}.onnx"

    def _session(self, size: tuple[int, int]) -> Callable[[np.ndarray], np.ndarray]:
        if size not in self._sessions:
            path = self.onnx_path(size)
            if not path.is_file():
                if self.on_export is not None:
                    self.on_export(size)
                path.parent.mkdir(parents=True, exist_ok=True)
                source = ExportSource(self.model, self.spec, self.weights, None, self.tlc)
                export_onnx(source, path, size=size, overwrite=True, tolerance=self.tolerance)
                self.exports += 1
            try:
                self._sessions[size] = open_session(self.engine, path, self.threads)
            except Exception as exc:  # the runtimes raise their own exception types
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                raise ExportError(
                    f"{path}: {self.engine} cannot load this export ({type(exc).__name__}: "
                    f"{first}); delete the file to export it again"
                ) from exc
        return self._sessions[size]


def open_session(engine: str, path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """An ONNX file loaded in ONNX Runtime or OpenVINO (CPU, fp32, `threads` intra-op threads),
    as a function from a 1×3×H×W float32 array to the restored array."""
    if engine == Engine.openvino.value:
        import openvino as ov

        compiled: Any = ov.Core().compile_model(
            str(path), "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
        )
        request = compiled.create_infer_request()

        def run_openvino(x: np.ndarray) -> np.ndarray:
            request.infer({0: x})
            return np.array(request.get_output_tensor(0).data, copy=True)

        return run_openvino
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    def run_onnxruntime(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {INPUT_NAME: x})[0])

    return run_onnxruntime
