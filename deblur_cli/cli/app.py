"""The Typer application: registers each subcommand with one line.

Command modules import only typer and the standard library at the top; torch and the core are
imported inside the command bodies, so `deblur --help` stays instant.
"""

from __future__ import annotations

import typer

from .. import __version__
from . import (
    benchmark_cmd,
    evaluate_cmd,
    export_cmd,
    models_cmd,
    profile_cmd,
    restore_cmd,
    train_cmd,
    weights_cmd,
)

app = typer.Typer(
    name="deblur",
    help="Single-image blind motion deblurring: restore photos, evaluate and benchmark networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

app.command("restore")(restore_cmd.restore)
app.command("models")(models_cmd.models)
app.command("profile")(profile_cmd.profile)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("benchmark")(benchmark_cmd.benchmark)
app.command("export")(export_cmd.export)
app.add_typer(weights_cmd.app, name="weights")
app.add_typer(train_cmd.app, name="train")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deblur {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Single-image blind motion deblurring: restore photos, evaluate and benchmark networks."""


def main() -> None:
    app()
