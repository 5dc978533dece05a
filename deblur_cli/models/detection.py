"""Readers of state-dict shapes that family files use to state their detection rule.

Each family file owns a `detect(shapes) -> config overrides | None` function (spandrel style);
the registry attaches it to the model's entry and `checkpoints` runs every entry's rule.
"""

from __future__ import annotations

from collections.abc import Mapping

Shapes = Mapping[str, tuple[int, ...]]


def count_blocks(shapes: Shapes, prefix: str) -> int:
    """Number of blocks in a Sequential stored under `prefix` (distinct next indices)."""
    indices = {k[len(prefix) :].split(".", 1)[0] for k in shapes if k.startswith(prefix)}
    return len({i for i in indices if i.isdigit()})


def leading_size(shapes: Shapes, key: str, default: int) -> int:
    """Leading size of `key`; a missing key keeps the default so the strict check names it."""
    shape = shapes.get(key)
    return shape[0] if shape else default


def width_ratio(num: int, den: int) -> float:
    """`num / den`, as a whole float when it divides (configs store expansion ratios)."""
    return float(num // den) if num % den == 0 else num / den


def has_prefix(shapes: Shapes, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in shapes)
