"""Options shared by several subcommands, declared once. Choices and defaults come from
`deblur_cli.defaults` (torch-free), which the core reads too."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..defaults import (
    LATENCY_WARMUP_SHARE,
    Align,
    Blend,
    Compare,
    DatasetName,
    Device,
    Engine,
    GoproBlur,
    Placement,
    Precision,
    Split,
    SsimVariant,
)

__all__ = [
    "OVERLAP_HELP",
    "TILE_BATCH_HELP",
    "TILE_HELP",
    "Align",
    "Blend",
    "Compare",
    "DatasetName",
    "Device",
    "Engine",
    "EngineOption",
    "GoproBlur",
    "ItersOption",
    "JsonOption",
    "Placement",
    "Precision",
    "Split",
    "SsimVariant",
    "TimeBudgetOption",
    "WarmupOption",
    "flag",
]

JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print machine-readable JSON to stdout instead of a table.", metavar=""
    ),
]

EngineOption = Annotated[
    Engine,
    typer.Option(
        help="What runs the network: torch (default), or the ONNX export in onnxruntime / "
        "openvino (CPU, fp32; extras deblur-cli[onnx] / [openvino]; exported once per "
        "weights and input size, then cached).",
    ),
]

# Latency timing, shared by `profile` and `benchmark --speed` (protocols §5.3).
ItersOption = Annotated[
    int, typer.Option(min=1, help="Timed forward passes at most (fewer if --time-budget runs out).")
]
WarmupOption = Annotated[
    int,
    typer.Option(
        min=0,
        help="Untimed warm-up passes at most (they stop early after "
        f"{LATENCY_WARMUP_SHARE:.0%} of --time-budget).",
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


# Tile options of restore and evaluate. The defaults are each model's registry entry: the help
# points there instead of restating them (and stays torch-free).
TILE_HELP = (
    "Tile size in pixels (0 = whole image, padded to the model's size multiple). "
    "Default: the model's own tile setting, see `deblur models`."
)
OVERLAP_HELP = (
    "Tile overlap in pixels. Default: the model's own with its tile; half of a --tile given alone."
)
TILE_BATCH_HELP = "Tiles per forward pass (default: chosen for the device and the tile size)."


def flag(*param_decls: str, help: str) -> Any:
    """A plain on/off option, shown in --help without a `<bool>` value placeholder (Typer
    prints the type of every option unless a metavar is given; a flag takes no value)."""
    return typer.Option(*param_decls, help=help, metavar="")
