"""`--engine` of restore, evaluate and profile: checked before any weights are read, then the
`export.OnnxEngine` that replaces PyTorch's forward (None for the default engine)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..defaults import Device, Engine, Precision

if TYPE_CHECKING:
    from ..loading import ReadyModel


def check_engine(engine: Engine, device: Device, precision: Precision) -> Device:
    """Before any weights are read: the engine is installed and runs with these settings.

    Returns the device to load the network on (`export.check_engine_settings`: the CPU for the
    ONNX engines)."""
    if engine is Engine.torch:
        return device
    from ..export import check_engine_settings, require_engine

    require_engine(engine.value)
    return Device(check_engine_settings(engine.value, device.value, precision.value))


def engine_forward(engine: Engine, ready: ReadyModel) -> Any:
    """None for PyTorch, else an `OnnxEngine` that says on stderr when it exports."""
    if engine is Engine.torch:
        return None
    from ..export import OnnxEngine
    from .output import stderr

    def announce(size: tuple[int, int]) -> None:
        stderr.print(
            f"[dim]exporting {ready.spec.name} to ONNX at {size[0]}x{size[1]} for {engine.value} "
            "(once per weights and size; cached)...[/]",
            highlight=False,
        )

    return OnnxEngine(
        ready.model, ready.spec, engine=engine.value, tlc=ready.tlc, weights=ready.weights,
        on_export=announce,
    )  # fmt: skip
