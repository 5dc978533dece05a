"""What a registered model's state dict looks like, and the strict key/shape check against it.

The only keys a check may let through are a model's training-only aux-head keys, under the
prefixes its registry entry documents (architectures §4-5), when its aux heads are off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import StateDictMismatchError
from ..models import create, get_spec
from .reading import SHOWN_KEYS, shapes_of

Shapes = Mapping[str, tuple[int, ...]]


def describe(model: str, config: Mapping[str, Any]) -> str:
    """`mlwnet (dim=4)`: how messages name a model at a config."""
    args = ", ".join(f"{k}={v}" for k, v in config.items())
    return f"{model} ({args})" if args else model


def expected_shapes(
    model: str, config: Mapping[str, Any] | None = None
) -> dict[str, tuple[int, ...]]:
    """State-dict shapes of a registered model, built on the meta device (no memory, ~50 ms)."""
    with torch.device("meta"):
        net = create(model, **dict(config or {}))
    return shapes_of(net.state_dict())


def training_only_shapes(
    model: str, config: Mapping[str, Any] | None = None
) -> dict[str, tuple[int, ...]]:
    """The aux-head keys a training checkpoint adds to the inference layout (empty if none)."""
    spec = get_spec(model)
    config = dict(config or {})
    if not spec.training_only_prefixes or config.get("aux_heads"):
        return {}
    inference = expected_shapes(model, config)
    training = expected_shapes(model, {**config, "aux_heads": True})
    return {
        k: s
        for k, s in training.items()
        if k not in inference and k.startswith(spec.training_only_prefixes)
    }


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def _listed(label: str, keys: list[str]) -> str:
    more = f", … +{len(keys) - SHOWN_KEYS}" if len(keys) > SHOWN_KEYS else ""
    return f"{len(keys)} {label}: {', '.join(keys[:SHOWN_KEYS])}{more}"


def check_state_dict(
    shapes: Shapes,
    expected: Shapes,
    droppable: Shapes | None = None,
    what: str = "the model",
) -> tuple[str, ...]:
    """Strict key and shape match; returns the droppable keys present (to drop before loading).

    Raises StateDictMismatchError naming the first missing, unexpected and mis-shaped keys.
    """
    droppable = droppable or {}
    missing = [k for k in expected if k not in shapes]
    unexpected = [k for k in shapes if k not in expected and k not in droppable]
    misshaped = [
        f"{k} {_fmt_shape(tuple(s))} vs {_fmt_shape(tuple(ref))}"
        for k, s in shapes.items()
        for ref in (expected.get(k, droppable.get(k)),)
        if ref is not None and tuple(s) != tuple(ref)
    ]
    parts = [
        _listed(label, keys)
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("mis-shaped (file vs model)", misshaped),
        )
        if keys
    ]
    if parts:
        raise StateDictMismatchError(f"state dict does not match {what}: " + "; ".join(parts))
    return tuple(k for k in shapes if k in droppable)


def check_architecture(
    shapes: Shapes, model: str, config: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """Strict check of `shapes` against a registered model under the aux-key rule."""
    config = dict(config or {})
    what = describe(get_spec(model).name, config)
    return check_state_dict(
        shapes, expected_shapes(model, config), training_only_shapes(model, config), what
    )
