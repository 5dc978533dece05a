"""Options shared by several subcommands, declared once. Choices and defaults come from
`deblur_cli.defaults` (torch-free), which the core reads too."""

from __future__ import annotations

from typing import Annotated

import typer

from ..defaults import (
    Align,
    Blend,
    Compare,
    DatasetName,
    Device,
    GoproBlur,
    Placement,
    Precision,
    Split,
    SsimVariant,
)

__all__ = [
    "TILE_HELP",
    "Align",
    "Blend",
    "Compare",
    "DatasetName",
    "Device",
    "GoproBlur",
    "ItersOption",
    "JsonOption",
    "Placement",
    "Precision",
    "Split",
    "SsimVariant",
    "TimeBudgetOption",
    "WarmupOption",
]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON to stdout instead of a table.")
]

# Latency timing, shared by `profile` and `benchmark --speed` (protocols §5.3).
ItersOption = Annotated[
    int, typer.Option(min=1, help="Timed forward passes at most (fewer if --time-budget runs out).")
]
WarmupOption = Annotated[
    int,
    typer.Option(
        min=0, help="Untimed warm-up passes at most (bounded by a share of --time-budget)."
    ),
]
TimeBudgetOption = Annotated[
    float,
    typer.Option(
        "--time-budget",
        min=0.0,
        help="Seconds of timed passes per model: timing stops at --iters passes or this, "
        "whichever comes first (0 = no limit: always --iters).",
    ),
]


TILE_HELP = (
    "Tile size in pixels (0 = whole image, padded to the model's size multiple). "
    "Default per model, the seed's best setting: fftformer 512/256, mlwnet and mlwnet-local "
    "256/128, hybridnet 512/256, ce-mlwnet 512/256 (tile/overlap)."
)
