"""`deblur train`: train a network from a recipe (shipped name or TOML file), resume a run,
list the recipes, preview synthetic camera-shake pairs. Runs unchanged under torchrun."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .options import Device, JsonOption, Precision, flag

RECIPE_HELP = (
    "A shipped recipe name (list them with `deblur train recipes`) or a recipe .toml file. "
    "With --resume it may be left out: the run's own recipe.toml is used."
)
SET_HELP = (
    "Override one recipe field, section.key=value (value parsed as TOML, else a string); "
    "repeatable, e.g. --set model.dim=8 --set data.crop=64 --set data.batch=2."
)

app = typer.Typer(
    help="Train a network from a recipe; resume it; list recipes; preview synthetic pairs.",
    add_completion=False,
    rich_markup_mode="rich",
)


@app.callback(invoke_without_command=True)
def train(
    ctx: typer.Context,
    recipe: Annotated[
        str | None,
        typer.Option("--recipe", "-r", help=RECIPE_HELP, metavar="NAME|FILE", show_default=False),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help=SET_HELP, metavar="KEY=VALUE", show_default=False),
    ] = None,
    root: Annotated[
        str | None,
        typer.Option(
            "--root",
            help="Dataset root (RealBlur lists, GOPRO_Large, blur/ + sharp/ folders) or, for synthetic recipes, a folder of sharp photos; sets data.root.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Run folder for last.pt, best.pt, log.csv, recipe.toml (default: runs/<recipe>).",
            show_default=False,
        ),
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps",
            min=1,
            help="Stop after this optimizer step; the LR schedule still follows train.steps, so a later --resume continues it.",
            show_default=False,
        ),
    ] = None,
    device: Annotated[
        Device,
        typer.Option(help="Where to train (under torchrun each process takes its LOCAL_RANK GPU)."),
    ] = Device.auto,
    precision: Annotated[
        Precision | None,
        typer.Option(
            help="Autocast precision (sets train.precision; fp16 adds a grad scaler; FFTs stay fp32).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="DataLoader worker processes per device (sets data.workers).",
            show_default=False,
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, help="CPU threads torch may use (default: torch's choice).", show_default=False
        ),
    ] = None,
    resume: Annotated[
        bool, flag("--resume", help="Continue the run in --out exactly where last.pt stopped.")
    ] = False,
    overwrite: Annotated[
        bool,
        flag(
            "--overwrite",
            help="Start afresh although --out holds a run (its last.pt, best.pt and log.csv are removed).",
        ),
    ] = False,
    init_weights: Annotated[
        str | None,
        typer.Option(
            "--init-weights",
            help="Fine-tune from these weights (registry name or checkpoint file), e.g. the 512 stage after the 256 one.",
            show_default=False,
        ),
    ] = None,
    tensorboard: Annotated[
        bool,
        flag(
            "--tensorboard",
            help="Also write TensorBoard scalars to <out>/tensorboard (needs the extra: pip install 'deblur-cli\\[tensorboard]').",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        flag(
            "--dry-run",
            help="Print the resolved recipe, parameter count, global batch and steps per epoch; train nothing.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Train from a recipe into --out (last.pt every train.save_every steps, best.pt on each better validation).

    Ctrl-C finishes the current step, saves last.pt and prints the command that resumes. Under `torchrun --nproc_per_node N -m deblur_cli train ...` each process trains one shard with DDP; rank 0 logs and writes the checkpoints.
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..training import RunOptions, plan_training, train
    from ..training.recipes import resolve_recipe
    from .output import core_errors, fail, print_json, rerun_command, stdout

    if recipe is None and not (resume and out is not None):
        raise fail("give --recipe NAME|FILE (see `deblur train recipes`), or --resume with --out")
    typed = [*(sets or [])]
    if precision is not None:
        typed.append(f'train.precision="{precision.value}"')
    if workers is not None:
        typed.append(f"data.workers={workers}")
    with core_errors():
        source = recipe if recipe is not None else str(out / "recipe.toml")  # type: ignore[operator]
        config = resolve_recipe(source, typed, root=root)
        run_out = out or Path("runs") / Path(recipe or "run").stem
        options = RunOptions(
            out=run_out, resume=resume, overwrite=overwrite, max_steps=max_steps,
            device=device.value, init_weights=init_weights, threads=threads,
            tensorboard=tensorboard,
            command=rerun_command(ctx, _NOT_RESUMED, ["--out", str(run_out), "--resume"]),
        )  # fmt: skip
        if dry_run:
            plan = plan_training(config, options)
            if as_json:
                print_json(plan)
            else:
                _print_plan(plan, show_recipe=True)
            return
        with _StopOnSignal() as stop, _TrainDisplay(config.train.log_every) as display:
            report = train(config, options, progress=display.on_event, should_stop=stop.requested)
    if report.rank != 0:
        return
    if report.interrupted:
        from rich.markup import escape

        from .output import stderr

        stderr.print(
            f"[yellow]interrupted at step {report.step}[/]; continue with: "
            f"{escape(report.resume_command or '--resume')}",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
        if as_json:
            print_json(report)
        raise typer.Exit(130)
    if as_json:
        print_json(report)
    else:
        stdout.print(_summary(report), highlight=False)


@app.command("recipes")
def recipes(as_json: JsonOption = False) -> None:
    """List the shipped recipes (published runs, protocols §3.3 and §3.5)."""
    from ..training.recipes import recipe_infos
    from .output import core_errors, print_json, stdout

    with core_errors():
        infos = recipe_infos()
    if as_json:
        print_json(infos)
        return
    from rich.table import Table

    table = Table(title="Training recipes", title_justify="left")
    for column in ("name", "model", "dataset", "description"):
        table.add_column(column, style="bold cyan" if column == "name" else None)
    for info in infos:
        table.add_row(info.name, info.model, info.dataset, info.description)
    stdout.print(table)


@app.command("synth-preview")
def synth_preview(
    folder: Annotated[
        Path,
        typer.Argument(help="Folder of sharp photos (searched recursively).", show_default=False),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Contact sheet to write (PNG, JPEG, ...).")
    ] = Path("synth_preview.png"),
    recipe: Annotated[
        str | None,
        typer.Option(
            "--recipe",
            "-r",
            help="Take [data.synthetic] (and data.scale) from this recipe (default: the synthetic defaults).",
            show_default=False,
        ),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help=SET_HELP, metavar="KEY=VALUE", show_default=False),
    ] = None,
    n: Annotated[
        int, typer.Option("--n", min=1, max=256, help="Rows (samples) on the sheet.")
    ] = 16,
    crop: Annotated[int, typer.Option(min=16, max=2048, help="Side of each crop in pixels.")] = 256,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the photos, windows and blurs drawn.")
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Write a contact sheet of synthetic camera-shake pairs (kernel | blurred | sharp per row) to eyeball a recipe before training."""
    from ..training.recipes import resolve_recipe
    from ..training.synth_preview import write_synth_preview
    from .output import core_errors, print_json, stdout

    with core_errors():
        raw: Any = recipe if recipe is not None else {}
        config = resolve_recipe(raw, sets or [])
        result = write_synth_preview(folder, output, config.data, n=n, crop=crop, seed=seed)
    if as_json:
        print_json(result)
    else:
        stdout.print(
            f"wrote {result.path} ({result.samples} samples from {result.photos} photos)",
            highlight=False,
        )


# ---------------------------------------------------------------------------------------------
# rendering and signals


# what a resumed run must not repeat (it continues from last.pt in --out)
_NOT_RESUMED = ("resume", "overwrite", "out", "init_weights", "dry_run")


class _StopOnSignal:
    """SIGINT/SIGTERM ask the loop to stop after the current step; a second one aborts."""

    def __enter__(self) -> _StopOnSignal:
        import signal
        import threading

        self._stop = False
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        import signal

        self._stop = True
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))

    def requested(self) -> bool:
        return self._stop

    def __exit__(self, *exc: object) -> None:
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _TrainDisplay:
    """A live line on stderr (step, losses, LR, it/s, ETA); plain lines every log interval
    when stderr is not a terminal (background runs writing to a file)."""

    def __init__(self, log_every: int) -> None:
        self.log_every = log_every

    def __enter__(self) -> _TrainDisplay:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from .output import stderr

        self.console = stderr
        self.live = stderr.is_terminal
        self.bars = Progress(
            TextColumn("step"), MofNCompleteColumn(), BarColumn(bar_width=20),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=stderr,
            transient=True, disable=not self.live,
        )  # fmt: skip
        self.bars.__enter__()
        self.task = self.bars.add_task("train", total=None, info="starting")
        return self

    def on_event(self, event: Any) -> None:
        from rich.markup import escape

        if event.kind == "start":
            self.bars.update(self.task, total=event.stop_step, completed=event.step)
            _print_plan(event.plan, show_recipe=False, console=self.console)
        elif event.kind == "step":
            info = _step_text(event)
            self.bars.update(self.task, completed=event.step, info=escape(info))
            if not self.live and self.log_every and event.step % self.log_every == 0:
                self.console.print(f"step {event.step}/{event.stop_step} {info}", highlight=False)
        elif event.kind in ("validation", "best"):
            v = event.validation
            if event.kind == "validation":
                ssim = f", SSIM {v.ssim:.4f}" if v.ssim is not None else ""
                self.console.print(
                    f"step {event.step}: validation PSNR {v.psnr:.3f} dB{ssim} on {v.images} "
                    f"held-out images ({v.protocol}, {v.seconds:.0f} s)", highlight=False,
                )  # fmt: skip
            else:
                self.console.print(f"  new best -> {escape(event.path)}", highlight=False)

    def __exit__(self, *exc: object) -> None:
        self.bars.__exit__(None, None, None)


def _step_text(event: Any) -> str:
    losses = " ".join(f"{k} {v:.4g}" for k, v in event.losses.items())
    eta = _duration(event.eta_s) if event.eta_s is not None else "?"
    return f"{losses} | lr {event.lr:.3g} | {event.steps_per_s:.2f} it/s {event.samples_per_s:.1f} img/s | ETA {eta}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def _print_plan(plan: Any, *, show_recipe: bool, console: Any = None) -> None:
    """The resolved run: model, size, devices and the global batch, data, schedule, notes."""
    from rich.markup import escape

    from .output import stderr, stdout

    console = console or (stdout if show_recipe else stderr)
    if show_recipe:
        from ..training.config import TrainConfig
        from ..training.recipes import to_toml

        console.print(escape(to_toml(TrainConfig.from_dict(plan.recipe))), highlight=False)
    b = plan.batch
    per_epoch = (
        f"{plan.steps_per_epoch:.1f}" if plan.steps_per_epoch is not None else "? (no data.root)"
    )
    lines = [
        f"model {plan.model} {plan.model_config}: {plan.parameters:,} parameters, {plan.precision} on {plan.device}",
        f"global batch {b.global_batch} = {b.per_device} per device × {b.devices} device(s) × {b.accumulate} accumulated; lr {b.lr:g}",
        f"data: {plan.train_items if plan.train_items is not None else '?'} training items, "
        f"{plan.val_items if plan.val_items is not None else 0} validation images, {plan.workers} loader "
        f"worker(s); steps per epoch {per_epoch}",
        f"steps {plan.start_step} -> {plan.stop_step} of {plan.steps}; out {plan.out}",
        *(f"note: {n}" for n in plan.notes),
    ]
    for line in lines:
        console.print(escape(line), highlight=False, soft_wrap=True)


def _summary(report: Any) -> str:
    best = (
        f"best PSNR {report.best_psnr:.3f} dB at step {report.best_step}"
        if report.best_psnr is not None
        else "not validated (best.pt holds the latest weights)"
    )
    losses = ", ".join(f"{k} {v:.4g}" for k, v in report.final_losses.items())
    return (
        f"trained {report.model} to step {report.step}/{report.total_steps} in "
        f"{_duration(report.seconds)} ({losses}); {best}; {report.last_checkpoint}"
    )
