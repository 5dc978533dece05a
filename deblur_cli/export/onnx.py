"""ONNX export: trace a loaded network with torch.onnx (dynamo), write its input contract into
the model's metadata_props, run the file in ONNX Runtime against PyTorch, and only then write it,
atomically and never over an existing file unless asked.

The patch transforms of FFTformer/HybridNet export in their matrix form (`fft_impl="matmul"`),
which is plain MatMul/Mul in ONNX; the test-time local converter exports at a fixed size only
(its pooling windows are chosen from the input size while tracing).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import secrets
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..errors import DeblurError, InvalidArgumentError, UnknownModelError, UnknownWeightsError
from ..files import atomic_write_bytes
from ..models import ModelSpec, apply_tlc, create, get_spec
from ..models.blocks import set_fft_impl
from .options import DEFAULT_OPSET, TOLERANCE

INPUT_NAME = "image"
OUTPUT_NAME = "restored"
RANDOM_WEIGHTS = "random"


class ExportError(DeblurError):
    """An export that cannot be made, verified or written."""


class MissingExtraError(ExportError):
    """The optional `onnx` extra (onnx, onnxscript, onnxruntime) is not installed."""


class OutputExistsError(ExportError):
    """The output file exists and `overwrite` was not given."""


class ExportVerificationError(ExportError):
    """ONNX Runtime and PyTorch disagree by more than the tolerance on the test input."""


@dataclass(frozen=True)
class ExportSource:
    """What gets exported: a network in eval mode and where its weights came from."""

    model: nn.Module
    spec: ModelSpec
    weights: str  # registry name, checkpoint path, or "random" (untrained, for tests only)
    weights_sha256: str | None
    tlc: bool


@dataclass(frozen=True)
class OnnxExportReport:
    path: Path
    model: str
    weights: str
    weights_sha256: str | None
    opset: int
    input_shape: tuple[int | str, ...]  # (1, 3, H, W), or (1, 3, "height", "width") if dynamic
    verified_shapes: tuple[tuple[int, ...], ...]  # inputs run through ONNX Runtime and PyTorch
    max_diff: float  # largest |ONNX Runtime - PyTorch| over those inputs
    tolerance: float
    tlc: bool
    bytes: int
    seconds: float


def require_modules(modules: tuple[str, ...], needs: str, extra: str) -> None:
    """Fail with "<needs> the <extra> extra (<module> is not installed): pip install ..." unless
    every module imports."""
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            raise MissingExtraError(
                f"{needs} the {extra} extra ({module} is not installed): "
                f"pip install 'deblur-cli[{extra}]'"
            ) from None


def require_onnx() -> None:
    """Fail with the install hint unless onnx, onnxscript and onnxruntime import."""
    require_modules(("onnx", "onnxscript", "onnxruntime"), "ONNX export needs", "onnx")


# --------------------------------------------------------------------------------------------
# What to export


def load_source(target: str, *, random_weights: bool = False, tlc: bool | None = None) -> ExportSource:
    """`MODEL|WEIGHTS` -> a network with trained weights.

    A model name loads its published default weights; a registered or imported weights name or
    a checkpoint path loads those. `random_weights=True` (a model name only) builds an untrained
    network instead, recorded as weights "random" in the report and the file's metadata.

    Raises:
        UnknownModelError: `target` is neither a model nor weights.
        InvalidArgumentError: random weights asked for weights rather than a model name.
        WeightsError (and subclasses): weights that cannot be found, fetched or loaded.
    """
    spec = _spec_or_none(target)
    if random_weights:
        if spec is None:
            raise InvalidArgumentError(
                f"--random-weights builds an untrained network: give a model name, not '{target}'"
            )
        model = create(spec.name)
        if tlc and spec.tlc is None:
            apply_tlc(model)
        return ExportSource(model, spec, RANDOM_WEIGHTS, None, spec.tlc is not None or bool(tlc))

    from ..loading import load_for_inference  # downloads and checkpoint reading on demand

    try:
        if spec is not None:
            ready = load_for_inference(model=spec.name, tlc=tlc)
        else:
            ready = load_for_inference(weights=target, tlc=tlc)
    except UnknownWeightsError as exc:
        raise UnknownModelError(_unknown_target(target, exc)) from None
    return ExportSource(ready.model, ready.spec, ready.weights, _sha256_of(ready.weights), ready.tlc)


def _spec_or_none(target: str) -> ModelSpec | None:
    try:
        return get_spec(target)
    except UnknownModelError:
        return None


def _unknown_target(target: str, weights_error: Exception) -> str:
    try:
        get_spec(target)
    except UnknownModelError as exc:
        return f"{exc}; nor is it weights: {weights_error}"
    return str(weights_error)  # pragma: no cover - a model name never gets here


def _sha256_of(weights: str) -> str | None:
    """sha256 of the checkpoint file behind a weights name or path (already local by now)."""
    from ..weights import resolve, sha256_file

    try:
        return sha256_file(resolve(weights, download_missing=False).path)
    except (DeblurError, OSError):
        return None


# --------------------------------------------------------------------------------------------
# Export


def export_model(
    target: str,
    output: str | os.PathLike[str] | None = None,
    *,
    size: tuple[int, int] | None = None,
    dynamic: bool = False,
    tlc: bool | None = None,
    opset: int = DEFAULT_OPSET,
    random_weights: bool = False,
    overwrite: bool = False,
    tolerance: float = TOLERANCE,
    on_stage: Callable[[str], None] | None = None,
) -> OnnxExportReport:
    """`deblur export` in one call: check what can be checked before reading any weights (the
    extra, the size against a named model's contract, an existing output), then `load_source`
    and `export_onnx`. `on_stage` hears "loading" and "exporting" as they start."""
    require_onnx()
    spec = _spec_or_none(target)
    if spec is not None:
        _input_size(spec, size, dynamic, spec.tlc is not None or bool(tlc))
    if output is not None:
        _check_output(Path(output), overwrite)
    if on_stage is not None:
        on_stage("loading")
    source = load_source(target, random_weights=random_weights, tlc=tlc)
    if on_stage is not None:
        on_stage("exporting")
    return export_onnx(
        source, output, size=size, dynamic=dynamic, opset=opset, overwrite=overwrite,
        tolerance=tolerance,
    )  # fmt: skip


def export_onnx(
    source: ExportSource,
    output: str | os.PathLike[str] | None = None,
    *,
    size: tuple[int, int] | None = None,
    dynamic: bool = False,
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
    tolerance: float = TOLERANCE,
) -> OnnxExportReport:
    """Export `source` to ONNX, verify it in ONNX Runtime, write it; returns the report.

    Static exports take `size` (H, W), by default the model's default tile; `dynamic=True`
    exports any H, W that are multiples of the model's size multiple (verified at two sizes).
    Nothing is written unless verification passes.

    Raises:
        MissingExtraError: the onnx extra is missing.
        InvalidArgumentError: a size that the model cannot take, size with dynamic, dynamic
            with the local converter, or a bad opset.
        OutputExistsError: `output` exists and `overwrite` is False.
        ExportVerificationError: ONNX Runtime differs from PyTorch by more than `tolerance`.
        ExportError: tracing or writing failed.
    """
    start = time.perf_counter()
    require_onnx()
    spec = source.spec
    shape = _input_size(spec, size, dynamic, source.tlc)
    if opset < 7:
        raise InvalidArgumentError(f"--opset {opset}: ONNX opsets start at 7 (default {DEFAULT_OPSET})")
    path = Path(output) if output is not None else default_output(source, size, dynamic)
    _check_output(path, overwrite)

    net = set_fft_impl(source.model.float().eval().cpu(), "matmul")
    data = _trace(net, spec, shape, dynamic, opset)
    data = _with_metadata(data, _metadata(source, size, dynamic))
    checks = [shape]
    if dynamic:  # also a size that was not traced: (3m, 2m) after (2m, 3m)
        checks.append((shape[0] + spec.size_multiple, shape[1] - spec.size_multiple))
    max_diff = _verify(net, data, checks)
    if not max_diff <= tolerance:  # also catches NaN
        raise ExportVerificationError(
            f"{spec.name}: ONNX Runtime differs from PyTorch by {max_diff:.3g} "
            f"(tolerance {tolerance:g}, --tolerance); nothing written"
        )
    _write(path, data, overwrite)
    input_shape: tuple[int | str, ...] = (1, 3, "height", "width") if dynamic else (1, 3, *shape)
    return OnnxExportReport(
        path=path,
        model=spec.name,
        weights=source.weights,
        weights_sha256=source.weights_sha256,
        opset=opset,
        input_shape=input_shape,
        verified_shapes=tuple((1, 3, h, w) for h, w in checks),
        max_diff=max_diff,
        tolerance=tolerance,
        tlc=source.tlc,
        bytes=len(data),
        seconds=time.perf_counter() - start,
    )


def _input_size(
    spec: ModelSpec, size: tuple[int, int] | None, dynamic: bool, tlc: bool
) -> tuple[int, int]:
    """The traced input size, after checking the options against the model's contract."""
    m = spec.size_multiple
    if dynamic:
        if size is not None:
            raise InvalidArgumentError("--size and --dynamic exclude each other")
        if tlc:
            raise InvalidArgumentError(
                f"{spec.name}: the local converter chooses its pooling windows from the input "
                "size, so it exports at a fixed --size only"
            )
        # Two and three blocks: no axis of size 1 (which tracing would specialise) and H != W.
        return 2 * m, 3 * m
    h, w = size if size is not None else (spec.default_tile, spec.default_tile)
    if h <= 0 or w <= 0 or h % m or w % m:
        raise InvalidArgumentError(
            f"--size {h}x{w}: {spec.name} takes heights and widths that are multiples of {m}"
        )
    return h, w


def default_output(source: ExportSource, size: tuple[int, int] | None, dynamic: bool) -> Path:
    """<weights name, checkpoint stem or model>-<HxW|dynamic>.onnx in the current folder."""
    if source.weights == RANDOM_WEIGHTS:
        stem = f"{source.spec.name}-random"
    else:
        stem = Path(source.weights).stem if os.sep in source.weights else source.weights
    h, w = size or (source.spec.default_tile, source.spec.default_tile)
    return Path(f"{stem}-{'dynamic' if dynamic else f'{h}x{w}'}.onnx")


def _check_output(path: Path, overwrite: bool) -> None:
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name with -o")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise ExportError(f"{path}: folder {path.parent} does not exist")


class _ImageToImage(nn.Module):
    """One tensor in, one tensor out: the restored image (eval mode returns no aux heads)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.onnx reports progress on stdout and logs/warns about optional packages; the core
    never prints, and the verification that follows judges the result instead."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _trace(net: nn.Module, spec: ModelSpec, hw: tuple[int, int], dynamic: bool, opset: int) -> bytes:
    example = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(0))
    dynamic_shapes = None
    if dynamic:
        m = spec.size_multiple
        # Multiples of the size multiple, declared as such so the model's size check holds.
        blocks_h = torch.export.Dim("height_blocks", min=1)
        blocks_w = torch.export.Dim("width_blocks", min=1)
        dynamic_shapes = {"image": {2: m * blocks_h, 3: m * blocks_w}}
    try:
        with _quiet(), torch.no_grad():
            program = torch.onnx.export(
                _ImageToImage(net),
                (example,),
                dynamo=True,
                opset_version=opset,
                dynamic_shapes=dynamic_shapes,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                optimize=True,
            )
        if program is None:  # pragma: no cover - the dynamo exporter always returns one
            raise ExportError(f"{spec.name}: torch.onnx returned no program")
        return bytes(program.model_proto.SerializeToString())
    except DeblurError:
        raise
    except Exception as exc:  # the exporter raises many kinds; one typed error with the cause
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExportError(f"{spec.name}: ONNX export failed ({type(exc).__name__}: {first})") from exc


def _metadata(source: ExportSource, size: tuple[int, int] | None, dynamic: bool) -> dict[str, str]:
    """The input contract and provenance, as ONNX metadata_props (strings)."""
    spec = source.spec
    h, w = size or (spec.default_tile, spec.default_tile)
    return {
        "deblur.model": spec.name,
        "deblur.weights": source.weights,
        "deblur.weights_sha256": source.weights_sha256 or "unknown",
        "deblur.untrained": str(source.weights == RANDOM_WEIGHTS).lower(),
        "deblur.input": f"{INPUT_NAME}: float32 NCHW (1, 3, H, W), RGB, values in [0, 1]",
        "deblur.output": f"{OUTPUT_NAME}: float32 NCHW, same shape; clip to [0, 1]",
        "deblur.layout": "NCHW",
        "deblur.channels": "RGB",
        "deblur.value_range": "0,1",
        "deblur.size_multiple": str(spec.size_multiple),
        "deblur.input_size": "dynamic" if dynamic else f"{h}x{w}",
        "deblur.padding": "pad H and W up to the size multiple (reflect), crop the output back",
        "deblur.default_tile": str(spec.default_tile),
        "deblur.default_overlap": str(spec.default_overlap),
        "deblur.tlc": str(source.tlc).lower(),
        "deblur.version": __version__,
    }


def _with_metadata(data: bytes, metadata: Mapping[str, str]) -> bytes:
    import onnx

    proto = onnx.load_from_string(data)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"deblur {metadata['deblur.model']} ({metadata['deblur.weights']})"
    return bytes(proto.SerializeToString())


def _verify(net: nn.Module, data: bytes, sizes: list[tuple[int, int]]) -> float:
    """Largest |ONNX Runtime - PyTorch| over random [0, 1] inputs of the given sizes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3  # errors only: the session's warnings are not ours to print
    try:
        session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types
        raise ExportError(f"ONNX Runtime cannot load the exported model: {exc}") from exc
    generator = torch.Generator().manual_seed(1)
    worst = 0.0
    for h, w in sizes:
        x = torch.rand(1, 3, h, w, generator=generator)
        with torch.no_grad():
            expected = net(x).float().numpy()
        got = session.run(None, {INPUT_NAME: x.numpy()})[0]
        diff = float(np.abs(got - expected).max()) if got.shape == expected.shape else math.inf
        worst = max(worst, diff if math.isfinite(diff) else math.inf)
    return worst


def _write(path: Path, data: bytes, overwrite: bool) -> None:
    """Temp file then rename; without `overwrite` a hard link publishes it, which fails rather
    than replace a file that appeared meanwhile."""
    if overwrite:
        atomic_write_bytes(path, data, error=ExportError)
        return
    tmp = atomic_write_bytes(path.with_name(f".{path.name}.{secrets.token_hex(4)}.part"), data, ExportError)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it") from None
    except OSError:  # no hard links on this file system
        if path.exists():
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it") from None
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
