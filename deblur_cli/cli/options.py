"""Options shared by several subcommands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON to stdout instead of a table.")
]
