"""Complexity of the network a checkpoint holds (slide 20, protocols §5.3): its config compared
with the registry's published one, and `profile_model` at that config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..models import get_spec
from ..profiling import ProfileOptions, ProfileReport, profile_model


def published_changes(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Fields of `config` that differ from the registry's published config of `name`."""
    published = dataclasses.asdict(get_spec(name).config)

    def same(a: Any, b: Any) -> bool:  # JSON turns tuples into lists
        return (list(a) if isinstance(a, (list, tuple)) else a) == (
            list(b) if isinstance(b, (list, tuple)) else b
        )

    return {k: v for k, v in config.items() if k in published and not same(published[k], v)}


def _normalise_config(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """`create()` overrides from a config read back from JSON (lists to tuples, unknown keys
    dropped)."""
    fields = {f.name for f in dataclasses.fields(get_spec(name).config)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k in fields}


def profile_checkpoint(
    name: str, config: Mapping[str, Any], options: ProfileOptions
) -> ProfileReport:
    """`profile_model` for the network a checkpoint holds (its config, e.g. MLWNet-B dim 64)."""
    changes = published_changes(name, config)
    return profile_model(name, options, _normalise_config(name, config) if changes else None)
