"""The model registry: one explicit line per model, each carrying the model's input contract.

Inference, weights and profiling code read everything they need from a `ModelSpec`; none of
them branch on a model name.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import UnknownModelError
from . import ce_mlwnet, fftformer, hybridnet, mlwnet
from .tlc import TLCConfig, apply_tlc


@dataclass(frozen=True)
class ModelSpec:
    """What a registered model is and what input it expects.

    Attributes:
        name: registry name (hyphenated); underscore spellings are accepted as aliases.
        builder: the nn.Module class, called with one config dataclass.
        config: the published (default) config; `create()` overrides fields of it.
        size_multiple: H and W of the model input must be multiples of this (architectures §6).
        aux_heads: the network has auxiliary multi-scale heads (outputs 2-4).
        training_only_prefixes: state-dict key prefixes present in training checkpoints but
            not in the inference config (dropped when loading with aux heads off).
        tlc: test-time local converter applied by `create()` (MLWNet-Local), else None.
        default_tile / default_overlap: the seed's best tile setting (protocols §4).
        has_wavelets: the network has learnable wavelets (and so a wavelet loss).
        precisions: autocast precisions the model supports (FFT paths always run in fp32).
        paper: short citation.
        description: one line for `deblur models`.
    """

    name: str
    builder: Callable[[Any], nn.Module]
    config: Any
    size_multiple: int
    aux_heads: bool
    training_only_prefixes: tuple[str, ...]
    tlc: TLCConfig | None
    default_tile: int
    default_overlap: int
    has_wavelets: bool
    paper: str
    description: str
    precisions: tuple[str, ...] = ("fp32", "bf16", "fp16")


_FFT = "Kong et al., Efficient Frequency Domain-based Transformers for High-Quality Image Deblurring, CVPR 2023"
_MLW = "Gao et al., Efficient Multi-Scale Network with Learnable Discrete Wavelet Transform for Blind Motion Deblurring, CVPR 2024"
_SEED = "Chen & Kang, Blind Motion Single Image Deblurring, deep-learning course project 2025"

# fmt: off
_REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("fftformer", fftformer.FFTformer, fftformer.FFTformerConfig(), fftformer.SIZE_MULTIPLE, False, (), None, 512, 256, False, _FFT, "FFTformer: frequency-domain self-attention and discriminative FFN transformer (dim 48)"),
    ModelSpec("mlwnet", mlwnet.MLWNet, mlwnet.MLWNetConfig(), mlwnet.SIZE_MULTIPLE, True, (), None, 256, 128, True, _MLW, "MLWNet-S: multi-scale network with learnable wavelets, global channel attention (dim 32)"),
    ModelSpec("mlwnet-local", mlwnet.MLWNet, mlwnet.MLWNetConfig(), mlwnet.SIZE_MULTIPLE, True, (), TLCConfig(), 256, 128, True, _MLW, "MLWNet-S with the test-time local converter (train 256, base 384), as the official eval"),
    ModelSpec("hybridnet", hybridnet.HybridNet, hybridnet.HybridNetConfig(), hybridnet.SIZE_MULTIPLE, True, ("decoder.aux_head",), None, 512, 256, False, _SEED, "HybridNet: NAFNet-style encoder, decoder blocks with FFTformer's DFFN (dim 32)"),
    ModelSpec("ce-mlwnet", ce_mlwnet.CEMLWNet, ce_mlwnet.CEMLWNetConfig(), ce_mlwnet.SIZE_MULTIPLE, True, ("decoder.head2.", "decoder.head3.", "decoder.head4."), None, 512, 256, True, _SEED, "CE-MLWNet: channel-efficient MLWNet, concat fusion and dilated blocks (dim 32)"),
)}
# fmt: on


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def list_models() -> list[str]:
    """Names of the registered models, in registry order."""
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The registry entry of `name` (underscores accepted); unknown names suggest the closest."""
    key = _canonical(name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, list(_REGISTRY), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UnknownModelError(f"unknown model '{name}'{hint} (known: {', '.join(_REGISTRY)})")


def create(name: str, **config_overrides: Any) -> nn.Module:
    """Build a registered model in eval mode, published config unless fields are overridden.

    `create("mlwnet", dim=64)` builds MLWNet-B. Unknown config fields raise TypeError naming
    the valid ones (a typo must not pass silently).
    """
    spec = get_spec(name)
    fields = {f.name for f in dataclasses.fields(spec.config)}
    unknown = sorted(set(config_overrides) - fields)
    if unknown:
        raise TypeError(
            f"{spec.name}: unknown config field(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}"
        )
    config = dataclasses.replace(spec.config, **config_overrides)
    model = spec.builder(config)
    model.arch_name = spec.name  # errors and reports name the registry entry, not the class
    if spec.tlc is not None:
        apply_tlc(model, spec.tlc)
    return model.eval()
