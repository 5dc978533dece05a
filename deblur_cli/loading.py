"""From the user's `--model` / `--weights` to a network with trained weights, ready to run.

Never hands out a network with untrained weights: without a loadable checkpoint this raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .checkpoints import load_pretrained
from .errors import WeightsError
from .models import ModelSpec, apply_tlc, get_spec
from .weights import DownloadError, WeightsEntry, load_registry

DEFAULT_MODEL = "ce-mlwnet"


@dataclass(frozen=True)
class ReadyModel:
    model: nn.Module
    spec: ModelSpec
    weights: str  # registry name or file path
    config: dict
    tlc: bool


def default_weights(model: str) -> WeightsEntry:
    """The registry entry used when only `--model` is given: the first entry for that
    network (MLWNet and MLWNet-Local share weights) at its published config."""
    spec = get_spec(model)
    for entry in load_registry().values():
        other = get_spec(entry.model)
        same_net = other.builder is spec.builder and other.config == spec.config
        published = all(getattr(spec.config, k, v) == v for k, v in entry.config.items())
        if same_net and published:
            return entry
    raise WeightsError(f"no published weights for {spec.name}; pass --weights FILE.pth")


def load_for_inference(
    model: str | None = None,
    weights: str | None = None,
    *,
    tlc: bool | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> ReadyModel:
    """Resolve `--model`/`--weights` (either may be omitted) into a loaded network.

    `tlc=True` adds the test-time local converter to any model (an extension for models other
    than MLWNet-Local); None keeps the registry's choice.
    """
    if weights is None:
        weights = default_weights(model or DEFAULT_MODEL).name
    try:
        loaded = load_pretrained(weights, model=model, progress=progress)
    except DownloadError as exc:
        raise WeightsError(
            f"{exc}; fetch them with `deblur weights download {weights}` when online, "
            "or pass --weights FILE.pth"
        ) from None
    spec = get_spec(model or loaded.name)
    net = loaded.model
    has_tlc = spec.tlc is not None
    if tlc and not has_tlc:
        apply_tlc(net)
        has_tlc = True
    elif tlc is False and has_tlc:
        raise WeightsError(f"{spec.name} always uses the local converter; use --model mlwnet")
    return ReadyModel(net, spec, str(weights), dict(loaded.config), has_tlc)
