"""From the user's `--model` / `--weights` to a network with trained weights, ready to run.

Never hands out a network with untrained weights: without a loadable checkpoint this raises.
Builds on `weights` (names, cache, downloads) and `models`; neither imports this package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..defaults import DEFAULT_MODEL
from ..errors import DownloadError, InvalidArgumentError, WeightsError
from ..models import ModelSpec, apply_tlc, get_spec, list_models
from ..weights import WeightsEntry, load_pretrained, load_registry

__all__ = ["DEFAULT_MODEL", "ReadyModel", "default_weights", "load_for_inference"]


@dataclass(frozen=True)
class ReadyModel:
    model: nn.Module
    spec: ModelSpec
    weights: str  # registry name or file path
    config: dict[str, Any]
    tlc: bool


def default_weights(model: str) -> WeightsEntry:
    """The registry entry used when only `--model` is given: the first entry registered for
    that model name (bundled or downloaded), else the first for the same network at the
    model's published config. MLWNet and MLWNet-Local share a network, so both get the same
    file (MLWNet-S, dim 32), never the first-listed MLWNet-B (dim 64).

    Raises:
        UnknownModelError: `model` is not registered.
        WeightsError: no registry entry holds weights for it.
    """
    spec = get_spec(model)
    entries = list(load_registry().values())
    for entry in entries:
        if get_spec(entry.model).name == spec.name and _published(spec, entry):
            return entry
    for entry in entries:
        other = get_spec(entry.model)
        same_net = other.builder is spec.builder and other.config == spec.config
        if same_net and _published(spec, entry):
            return entry
    raise WeightsError(f"no published weights for {spec.name}; pass --weights FILE.pth")


def _published(spec: ModelSpec, entry: WeightsEntry) -> bool:
    """The entry's config overrides leave the model's published config as it is."""
    return all(getattr(spec.config, k, v) == v for k, v in entry.config.items())


def load_for_inference(
    model: str | None = None,
    weights: str | None = None,
    *,
    tlc: bool | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> ReadyModel:
    """Resolve `--model`/`--weights` (either may be omitted) into a loaded network.

    With neither, `DEFAULT_MODEL` and its default weights (the bundled model: no download).

    `tlc=True` adds the test-time local converter to any model (an extension for models other
    than MLWNet-Local); None keeps the registry's choice; False with a model whose registry
    entry always converts (mlwnet-local) is an error.

    Raises:
        InvalidArgumentError: `tlc=False` for a model that always uses the converter.
        WeightsError (and subclasses): weights that cannot be found, fetched or loaded.
    """
    if weights is None:
        model = model or DEFAULT_MODEL
        weights = default_weights(model).name
    if tlc is False and model is not None and get_spec(model).tlc is not None:
        raise _always_tlc(get_spec(model))
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
        raise _always_tlc(spec)
    return ReadyModel(net, spec, str(weights), dict(loaded.config), has_tlc)


def _always_tlc(spec: ModelSpec) -> InvalidArgumentError:
    """The error for --no-tlc with a model that always converts, naming the plain variant."""
    plain = [
        name
        for name in list_models()
        if get_spec(name).builder is spec.builder and get_spec(name).tlc is None
    ]
    hint = f"; use --model {plain[0]}" if plain else ""
    return InvalidArgumentError(f"{spec.name} always uses the local converter (--no-tlc){hint}")
