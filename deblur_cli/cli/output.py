"""The CLI's one output layer: results to stdout (rich tables or JSON), status and errors to
stderr, typed core errors turned into one-line messages and exit codes."""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

stdout = Console()
stderr = Console(stderr=True)
if not stdout.is_terminal:  # piped or captured: don't squeeze tables into 80 columns
    stdout.width = 160


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, paths, enums, tuples and numpy scalars to plain JSON types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Enum):
        return obj.value
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    return obj


def print_json(obj: Any, compact: bool = False) -> None:
    """Pretty JSON, or one object per line (`compact`) for streams of results."""
    text = json.dumps(to_jsonable(obj), indent=None if compact else 2)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def emit(result: Any, as_json: bool, render: Callable[[Any], Any]) -> None:
    """Print `result` as JSON, or the rich renderable that `render(result)` builds."""
    if as_json:
        print_json(result)
    else:
        stdout.print(render(result))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def core_errors() -> Iterator[None]:
    """Turn the core's typed errors into a one-line message and exit code 1."""
    from ..errors import DeblurError

    try:
        yield
    except DeblurError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None


def rerun_command(ctx: typer.Context, skip: tuple[str, ...], extra: list[str]) -> str:
    """The command as the user typed it (options from the command line or the environment, not
    defaults), minus the `skip` parameters, plus `extra`: what to run to continue a stopped job."""
    words = ctx.command_path.split()
    for param in ctx.command.params:
        name = param.name or ""
        source = ctx.get_parameter_source(name)
        if name in skip or source is None or source.name not in ("COMMANDLINE", "ENVIRONMENT"):
            continue
        words += _option_words(param, ctx.params[name])
    return shlex.join([*words, *extra])


def _option_words(param: Any, value: Any) -> list[str]:
    long = max(getattr(param, "opts", [param.name]), key=len)
    if isinstance(value, bool):
        if value:
            return [long]
        secondary = getattr(param, "secondary_opts", [])
        return [max(secondary, key=len)] if secondary else []
    if isinstance(value, (list, tuple)):
        return [word for item in value for word in (long, str(item))]
    if value is None:
        return []
    return [long, value.value if isinstance(value, Enum) else str(value)]
