"""Export: a loaded network as an ONNX file with its input contract in the metadata, verified
against PyTorch through ONNX Runtime before anything is written.

May import `models`, `inference` (loading), `weights`, `files`, `defaults` and `errors`; `cli`
and `profiling` import it (`OnnxEngine`: `--engine onnxruntime|openvino`). `onnx`, `onnxscript` and `onnxruntime` come from the `onnx` extra and are
imported when an export runs, never at package import.
"""

from .engines import (
    EXTRAS,
    OnnxEngine,
    check_engine_settings,
    onnx_cache_dir,
    open_session,
    require_engine,
)
from .onnx import (
    ExportError,
    ExportSource,
    ExportVerificationError,
    MissingExtraError,
    OnnxExportReport,
    OutputExistsError,
    default_output,
    export_model,
    export_onnx,
    load_source,
    require_onnx,
)
from .options import DEFAULT_OPSET, EXPORT_FORMATS, TOLERANCE, parse_size

__all__ = [
    "DEFAULT_OPSET",
    "EXTRAS",
    "EXPORT_FORMATS",
    "TOLERANCE",
    "ExportError",
    "ExportSource",
    "ExportVerificationError",
    "MissingExtraError",
    "OnnxEngine",
    "OnnxExportReport",
    "OutputExistsError",
    "check_engine_settings",
    "default_output",
    "export_model",
    "export_onnx",
    "load_source",
    "onnx_cache_dir",
    "open_session",
    "parse_size",
    "require_engine",
    "require_onnx",
]
