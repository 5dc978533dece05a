"""Which registered model a state dict belongs to: every registry entry's own detection rule
(`ModelSpec.detect`, written in its family file) is asked in registry order, spandrel style."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from ..errors import DetectorBugError, UnknownArchitectureError
from ..models import get_spec, list_models
from .matching import Shapes, check_architecture, describe
from .reading import read_checkpoint, shapes_of


@dataclass(frozen=True)
class Detection:
    """Which registered model a state dict belongs to.

    Attributes:
        model: registry name.
        config: `create()` overrides that rebuild it (aux heads always off).
        training_keys: aux-head keys present in the file, dropped when loading for inference.
        same_state_dict: other registry names with an identical state dict (mlwnet-local for
            mlwnet); any of them loads the file.
    """

    model: str
    config: dict[str, Any]
    training_keys: tuple[str, ...] = ()
    same_state_dict: tuple[str, ...] = ()

    def describe(self) -> str:
        return describe(self.model, self.config)


def _same_state_dict(model: str) -> tuple[str, ...]:
    builder = get_spec(model).builder
    return tuple(n for n in list_models() if n != model and get_spec(n).builder is builder)


def _ask(name: str, shapes: Shapes) -> dict[str, Any] | None:
    """Run one model's rule; a rule that raises is a bug in the rule, reported as such."""
    rule = get_spec(name).detect
    if rule is None:
        return None
    try:
        return rule(shapes)
    except Exception as e:  # any exception here is the rule's bug, never the user's file
        raise DetectorBugError(
            f"the detection rule of {name} raised {type(e).__name__}: {e}; this is a bug in "
            f"deblur, please report it with the checkpoint's first keys ({_first_keys(shapes)})"
        ) from e


def _first_keys(shapes: Shapes) -> str:
    return ", ".join(list(shapes)[:3])


def guess_architecture(shapes: Shapes) -> Detection:
    """Model and config from key names and shapes alone (no strict check)."""
    shapes = shapes_of(shapes)
    for name in list_models():
        config = _ask(name, shapes)
        if config is not None:
            prefixes = get_spec(name).training_only_prefixes
            training = tuple(k for k in shapes if prefixes and k.startswith(prefixes))
            return Detection(name, config, training, _same_state_dict(name))
    known = ", ".join(n for n in list_models() if get_spec(n).detect is not None)
    raise UnknownArchitectureError(
        f"no registered architecture ({known}) has this layout (first keys: {_first_keys(shapes)})"
    )


def detect_architecture(shapes: Shapes) -> Detection:
    """`guess_architecture`, then a strict key/shape check against the model it names."""
    detection = guess_architecture(shapes)
    dropped = check_architecture(shapes_of(shapes), detection.model, detection.config)
    return dataclasses.replace(detection, training_keys=dropped)


def detect_file(path: str | os.PathLike[str], container: str | None = None) -> Detection:
    """Which registered model (and width) a checkpoint file holds."""
    return detect_architecture(shapes_of(read_checkpoint(path, container).state_dict))
