"""`--weights NAME|PATH`: a local file, a registry name (downloaded on first use) or a name
imported into the cache, resolved to a file and loaded into the model it describes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ArchitectureMismatchError, UnknownWeightsError, WeightsError
from .bundled import bundled_file
from .downloads import ProgressCallback, download
from .index import read_index
from .inventory import locate
from .registry import CHECKPOINT_SUFFIXES, load_registry, unknown_message
from .results import ResolvedWeights

if TYPE_CHECKING:
    from ..checkpoints import LoadedModel


def resolve(
    spec: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    download_missing: bool = True,
) -> ResolvedWeights:
    """A local file path, a registry name (downloaded if needed; bundled weights are read from
    the package) or an imported name."""
    path = Path(spec)
    if path.is_file():
        return ResolvedWeights(path, None, None)
    text = str(spec)
    registry = load_registry()
    index = read_index()
    if text in registry:
        entry = registry[text]
        if entry.bundled_file is not None:  # shipped in the package: never a request
            return ResolvedWeights(bundled_file(entry), entry, text)
        if not download_missing:
            return ResolvedWeights(locate(text).path, entry, text, None, index.get(text))
        result = download(text, progress=progress)
        fresh = None if result.from_cache else result
        return ResolvedWeights(result.path, entry, text, fresh, read_index().get(text))
    if text in index:
        return ResolvedWeights(locate(text).path, None, text, None, index[text])
    if os.sep in text or text.endswith(CHECKPOINT_SUFFIXES):
        raise WeightsError(f"{text}: no such file")
    raise UnknownWeightsError(unknown_message(text, [*registry, *index]))


def _load_as(
    path: Path,
    name: str,
    described: str,
    config: Mapping[str, Any],
    container: str,
    model: str | None,
) -> LoadedModel:
    """Load weights described as model `described`; `model`, if given, must be that network."""
    from ..checkpoints import load_model, same_network  # torch: start-up time of `weights`
    from ..models import get_spec

    if model is not None and not same_network(model, described):
        raise ArchitectureMismatchError(
            f"weights '{name}' are for {described}, not {get_spec(model).name}"
        )
    return load_model(path, model or described, config, container)


def load_pretrained(
    weights: str | os.PathLike[str],
    model: str | None = None,
    progress: ProgressCallback | None = None,
) -> LoadedModel:
    """`--weights NAME|PATH` loaded strictly: a registry or imported name builds the model its
    entry or import record names; a local file builds the model detected in it."""
    from ..checkpoints import load_model  # torch: start-up time of `weights`

    resolved = resolve(weights, progress=progress)
    if resolved.entry is not None:
        entry = resolved.entry
        return _load_as(
            resolved.path, entry.name, entry.model, entry.config, entry.container, model
        )
    record = resolved.record
    if record is not None and resolved.name is not None:
        return _load_as(
            resolved.path, resolved.name, record.model, record.config, record.container, model
        )
    return load_model(resolved.path, model=model)
