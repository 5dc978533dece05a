"""`deblur weights`: list, download, locate, verify, import, convert and remove checkpoints.

Each subcommand is one call into `deblur_cli.weights` (or `checkpoints` for `convert`); the
registry is `deblur_cli/data/weights.toml` unless `DEBLUR_WEIGHTS_REGISTRY` names another file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Annotated

import typer

from .options import JsonOption

app = typer.Typer(
    help="Pretrained weights: the registry, the local cache, downloads and conversions.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="Weights name, e.g. mlwnet.gopro-w64.")]


def _about(name: str, message: str) -> str:
    """The message, prefixed with `name` unless it already names it."""
    return (
        message
        if message.startswith(f"{name}:") or f"'{name}'" in message
        else f"{name}: {message}"
    )


@contextmanager
def _errors_about(subject: str | None = None) -> Iterator[None]:
    """Core errors as one line that names `subject` (a file or weights name) and the problem."""

    from ..errors import DeblurError
    from .output import core_errors, fail

    with core_errors():  # interrupts
        try:
            yield
        except DeblurError as exc:
            message = _about(subject, str(exc)) if subject else str(exc)
            raise fail(message) from None


def _progress() -> AbstractContextManager[Callable[[str, int, int | None], None] | None]:
    """Bars on an interactive stderr; none in logs and pipes (rich would leave stray lines)."""
    from .output import stderr

    if not stderr.is_terminal:
        return nullcontext(None)
    from .progress_bars import download_progress

    return download_progress()


def _hash_hint(name: str, sha256: str) -> None:
    from rich.markup import escape

    from .output import stderr

    stderr.print(
        f"{escape(name)}: no sha256 is known, so the file was verified structurally "
        f"(strict key/shape match); its sha256 is {sha256}. Add "
        f'[bold]sha256 = "{sha256}"[/] to its entry in weights.toml to pin it.',
        highlight=False,
        soft_wrap=True,
    )


@app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List the registry's weights and imported ones: model, dataset, size, cache state."""
    from ..weights import list_weights
    from .output import emit
    from .render import weights_table

    with _errors_about():
        listing = list_weights()
    emit(listing, as_json, weights_table)


@app.command("download")
def download(
    names: Annotated[
        list[str] | None, typer.Argument(help="Weights names (see `deblur weights list`).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Download every registry entry.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Download again even if cached and verified.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Network timeout in seconds.")
    ] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Download weights into the cache and verify them; every name is tried, exit 1 if any failed."""
    from rich.markup import escape

    from ..weights import download_many
    from .output import emit, fail, stderr
    from .render import download_table

    if bool(names) == all_:
        raise fail("give one or more weights names, or --all (not both)")
    with _errors_about(), _progress() as progress:
        report = download_many(
            None if all_ else names, progress=progress, force=force, timeout=timeout
        )
    for result in report.results:
        if result.from_cache:
            stderr.print(f"{escape(result.name)}: already cached", highlight=False)
        elif result.record_hash and result.verified_by == "structure":
            _hash_hint(result.name, result.sha256)
    if as_json:
        emit(report, True, download_table)
    elif report.results:
        emit(report, False, download_table)
    exit_code: typer.Exit | None = None
    for name, message in report.errors:
        exit_code = fail(_about(name, message))
    if exit_code is not None:
        raise exit_code


@app.command("path")
def path(name: NameArgument, as_json: JsonOption = False) -> None:
    """Print the cached file of NAME (no download)."""
    from ..weights import locate
    from .output import print_json

    with _errors_about(name):
        cached = locate(name)
    if as_json:
        print_json(cached)
    else:
        typer.echo(str(cached.path))  # plain, never wrapped: `$(deblur weights path NAME)`


@app.command("verify")
def verify(
    names: Annotated[
        list[str] | None, typer.Argument(help="Weights names (default: every cached file).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Re-hash cached files (structural check where no sha256 is known); exit 1 on a mismatch."""

    from ..weights import verify as verify_weights
    from .output import emit, fail
    from .render import verify_table

    with _errors_about():
        report = verify_weights(names or None)
    emit(report, as_json, verify_table)
    failed = [r for r in report.results if not r.ok]
    if failed:
        raise fail(
            f"{len(failed)} of {len(report.results)} failed verification: "
            + ", ".join(r.name for r in failed)
        )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A local .pth/.pt/.safetensors checkpoint.")],
    name: Annotated[
        str, typer.Option("--name", help="A registry name, or a new name to register it under.")
    ],
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace weights already cached under NAME."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Copy a local checkpoint into the cache after detecting and strictly checking it."""
    from rich.markup import escape

    from ..weights import import_weights, load_registry
    from .output import emit, stderr
    from .render import import_summary

    with _errors_about(str(file)):
        with _progress() as progress:
            result = import_weights(file, name, progress=progress, overwrite=overwrite)
        in_registry = name in load_registry()
    for earlier in result.replaced:
        stderr.print(
            f"{escape(name)}: replaced {escape(str(earlier))}", highlight=False, soft_wrap=True
        )
    if in_registry and result.record_hash and result.verified_by == "structure":
        _hash_hint(name, result.sha256)
    emit(result, as_json, import_summary)


@app.command("convert")
def convert(
    file: Annotated[Path, typer.Argument(help="A .pth/.pt/.safetensors checkpoint.")],
    output: Annotated[Path, typer.Argument(help="Where to write the .safetensors file.")],
    model: Annotated[
        str | None,
        typer.Option("--model", help="Require this architecture (default: detect it)."),
    ] = None,
    container: Annotated[
        str | None,
        typer.Option(
            "--container", help="Key holding the state dict: params, params_ema, state_dict, plain."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write the strictly checked inference state dict of FILE as a .safetensors file."""
    from ..checkpoints import convert_to_safetensors
    from .output import emit
    from .render import convert_summary

    with _errors_about(str(file)):
        result = convert_to_safetensors(file, output, model=model, container=container)
    emit(result, as_json, convert_summary)


@app.command("remove")
def remove(name: NameArgument, as_json: JsonOption = False) -> None:
    """Delete the cached file of NAME, its partial downloads and its index record."""
    from ..weights import remove as remove_weights
    from .output import emit
    from .render import remove_summary

    with _errors_about(name):
        result = remove_weights(name)
    emit(result, as_json, remove_summary)
