"""`deblur models`: the registered networks and their published weights."""

from __future__ import annotations

from .options import JsonOption


def models(as_json: JsonOption = False) -> None:
    """List the registered models: paper, parameters, input contract, published weights."""
    from ..catalog import list_model_infos
    from .output import core_errors, emit
    from .render import models_table

    with core_errors():
        infos = list_model_infos()
    emit(infos, as_json, models_table)
