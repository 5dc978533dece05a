"""The networks: `create(name, **overrides)`, `list_models()`, `get_spec(name)`.

Registry names: fftformer, mlwnet, mlwnet-local, hybridnet, ce-mlwnet (underscores accepted).
"""

from .blocks import total_wavelet_loss as wavelet_loss
from .registry import ModelSpec, create, get_spec, list_models
from .tlc import TLCConfig, apply_tlc

__all__ = [
    "ModelSpec",
    "TLCConfig",
    "apply_tlc",
    "create",
    "get_spec",
    "list_models",
    "wavelet_loss",
]
