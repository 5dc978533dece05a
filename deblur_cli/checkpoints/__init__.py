"""Checkpoint files: safe reading, strict key/shape checks, architecture detection, loading into
a model and conversion to safetensors. May import `models`, `files` and `errors`; never `weights`
(which builds on this package), so no registry name is known here: only files.
"""

from ..errors import (
    ArchitectureMismatchError,
    CheckpointError,
    CorruptCheckpointError,
    DetectorBugError,
    StateDictMismatchError,
    UnknownArchitectureError,
    UnsafeCheckpointError,
)
from .conversion import ConvertResult, convert_to_safetensors
from .detection import Detection, detect_architecture, detect_file, guess_architecture
from .load import (
    LoadedModel,
    load_model,
    load_state_dict_strict,
    resolve_architecture,
    same_network,
)
from .matching import (
    Shapes,
    check_architecture,
    check_state_dict,
    describe,
    expected_shapes,
    training_only_shapes,
)
from .reading import (
    CONTAINER_KEYS,
    MODULE_PREFIX,
    PLAIN,
    Checkpoint,
    read_checkpoint,
    shapes_of,
    strip_module_prefix,
    unwrap_state_dict,
)

__all__ = [
    "CONTAINER_KEYS",
    "MODULE_PREFIX",
    "PLAIN",
    "ArchitectureMismatchError",
    "Checkpoint",
    "CheckpointError",
    "ConvertResult",
    "CorruptCheckpointError",
    "Detection",
    "DetectorBugError",
    "LoadedModel",
    "Shapes",
    "StateDictMismatchError",
    "UnknownArchitectureError",
    "UnsafeCheckpointError",
    "check_architecture",
    "check_state_dict",
    "convert_to_safetensors",
    "describe",
    "detect_architecture",
    "detect_file",
    "expected_shapes",
    "guess_architecture",
    "load_model",
    "load_state_dict_strict",
    "read_checkpoint",
    "resolve_architecture",
    "same_network",
    "shapes_of",
    "strip_module_prefix",
    "training_only_shapes",
    "unwrap_state_dict",
]
