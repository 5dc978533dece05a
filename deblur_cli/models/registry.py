"""The model registry: one explicit line per model, each carrying the model's input contract.

Inference, weights and profiling code read everything they need from a `ModelSpec`; none of
them branch on a model name.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..defaults import NAME_SUGGESTION_CUTOFF, PRECISIONS
from ..errors import InvalidArgumentError, UnknownModelError
from . import ce_mlwnet, fftformer, hybridnet, mlwnet
from .detection import Shapes
from .tlc import TLCConfig, apply_tlc


@dataclass(frozen=True, kw_only=True)
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
        detect: the family's detection rule (state-dict shapes -> config overrides, or None
            when the dict is not this family); None for entries that share another entry's
            state dict (MLWNet-Local is detected as MLWNet).
        tiny_config: `create()` overrides for a network small enough for tests (seconds).
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
    detect: Callable[[Shapes], dict[str, Any] | None] | None
    tiny_config: Mapping[str, Any]
    precisions: tuple[str, ...] = PRECISIONS


_FFT = "Kong et al., Efficient Frequency Domain-based Transformers for High-Quality Image Deblurring, CVPR 2023"
_MLW = "Gao et al., Efficient Multi-Scale Network with Learnable Discrete Wavelet Transform for Blind Motion Deblurring, CVPR 2024"
_SEED = "Chen & Kang, Blind Motion Single Image Deblurring, deep-learning course project 2025"

_REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec(
        name="fftformer", builder=fftformer.FFTformer, config=fftformer.FFTformerConfig(),
        size_multiple=fftformer.SIZE_MULTIPLE, aux_heads=False, training_only_prefixes=(),
        tlc=None, default_tile=512, default_overlap=256, has_wavelets=False,
        detect=fftformer.detect,
        tiny_config={"dim": 8, "num_blocks": (1, 1, 1), "num_refinement_blocks": 1},
        paper=_FFT,
        description="FFTformer: frequency-domain self-attention and discriminative FFN transformer (dim 48)",
    ),
    ModelSpec(
        name="mlwnet", builder=mlwnet.MLWNet, config=mlwnet.MLWNetConfig(),
        size_multiple=mlwnet.SIZE_MULTIPLE, aux_heads=True, training_only_prefixes=(),
        tlc=None, default_tile=256, default_overlap=128, has_wavelets=True,
        detect=mlwnet.detect, tiny_config={"dim": 4},
        paper=_MLW,
        description="MLWNet-S: multi-scale network with learnable wavelets, global channel attention (dim 32)",
    ),
    ModelSpec(
        name="mlwnet-local", builder=mlwnet.MLWNet, config=mlwnet.MLWNetConfig(),
        size_multiple=mlwnet.SIZE_MULTIPLE, aux_heads=True, training_only_prefixes=(),
        tlc=TLCConfig(), default_tile=256, default_overlap=128, has_wavelets=True,
        detect=None, tiny_config={"dim": 4},
        paper=_MLW,
        description="MLWNet-S with the test-time local converter (train 256, base 384), as the official eval",
    ),
    ModelSpec(
        name="hybridnet", builder=hybridnet.HybridNet, config=hybridnet.HybridNetConfig(),
        size_multiple=hybridnet.SIZE_MULTIPLE, aux_heads=True,
        training_only_prefixes=("decoder.aux_head",),
        tlc=None, default_tile=512, default_overlap=256, has_wavelets=False,
        detect=hybridnet.detect, tiny_config={"dim": 4},
        paper=_SEED,
        description="HybridNet: NAFNet-style encoder, decoder blocks with FFTformer's DFFN (dim 32)",
    ),
    ModelSpec(
        name="ce-mlwnet", builder=ce_mlwnet.CEMLWNet, config=ce_mlwnet.CEMLWNetConfig(),
        size_multiple=ce_mlwnet.SIZE_MULTIPLE, aux_heads=True,
        training_only_prefixes=("decoder.head2.", "decoder.head3.", "decoder.head4."),
        tlc=None, default_tile=512, default_overlap=256, has_wavelets=True,
        detect=ce_mlwnet.detect, tiny_config={"dim": 4},
        paper=_SEED,
        description="CE-MLWNet: channel-efficient MLWNet, concat fusion and dilated blocks (dim 32)",
    ),
    # The bundled default model (issue #13). Its state dicts are detected as ce-mlwnet (dim 8),
    # which loads the same file; trained without aux heads, so none to drop. Tiles 512/64: on
    # 2 CPU cores a 1536x1024 photo took 82 s at 512/64 and 105 s at 512/128 with the same
    # difference from the whole frame (set by the global channel attention, not the overlap);
    # whole-frame peaks at 1.2 GB for 1.5 MP, too much at 12 MP.
    ModelSpec(
        name="ce-mlwnet-tiny", builder=ce_mlwnet.CEMLWNet,
        config=ce_mlwnet.CEMLWNetConfig(dim=8, aux_heads=False),
        size_multiple=ce_mlwnet.SIZE_MULTIPLE, aux_heads=False, training_only_prefixes=(),
        tlc=None, default_tile=512, default_overlap=64, has_wavelets=True,
        detect=None, tiny_config={"dim": 4},
        paper=_SEED,
        description="Small CE-MLWNet (width 8) bundled with deblur: demo-grade, trained on synthetic camera shake",
    ),
)}


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
    # a strict cutoff: suggest only a near-typo, never an unrelated name
    close = difflib.get_close_matches(key, list(_REGISTRY), n=1, cutoff=NAME_SUGGESTION_CUTOFF)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UnknownModelError(f"unknown model '{name}'{hint} (known: {', '.join(_REGISTRY)})")


def create(name: str, **config_overrides: Any) -> nn.Module:
    """Build a registered model in eval mode, published config unless fields are overridden.

    `create("mlwnet", dim=64)` builds MLWNet-B. Unknown config fields raise an error naming
    the valid ones (a typo must not pass silently): InvalidArgumentError.
    """
    spec = get_spec(name)
    fields = {f.name for f in dataclasses.fields(spec.config)}
    unknown = sorted(set(config_overrides) - fields)
    if unknown:
        raise InvalidArgumentError(
            f"{spec.name}: unknown config field(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}"
        )
    config = dataclasses.replace(spec.config, **config_overrides)
    model = spec.builder(config)
    # errors and reports name the registry entry (nn.Module types attributes as tensors)
    model.arch_name = spec.name  # type: ignore[assignment]
    if spec.tlc is not None:
        apply_tlc(model, spec.tlc)
    return model.eval()
