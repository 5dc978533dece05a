"""Rich progress bars on stderr for long-running commands (downloads, image batches)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .output import stderr


@contextmanager
def download_progress() -> Iterator[Callable[[str, int, int | None], None]]:
    """Yields a `(name, bytes_done, bytes_total)` callback drawing one bar per file."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=stderr, transient=True,
    ) as bars:  # fmt: skip
        tasks: dict[str, TaskID] = {}

        def update(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bars.add_task(f"downloading {name}", total=total)
            bars.update(tasks[name], completed=done, total=total)

        yield update


class RestoreBar:
    """One bar over images and, for images cut into many tiles, one over their tiles."""

    def __init__(self, bars: Progress, total: int) -> None:
        self._bars = bars
        self._images = bars.add_task("images", total=total)
        self._tiles: TaskID | None = None

    def on_tiles(self, job: Any, done: int, total: int) -> None:
        if total < 4:
            return
        if self._tiles is None:
            self._tiles = self._bars.add_task(f"tiles of {job.source.name}", total=total)
        self._bars.update(self._tiles, completed=done, total=total,
                          description=f"tiles of {job.source.name}")  # fmt: skip

    def advance(self, result: Any) -> None:
        self._bars.advance(self._images)
        if self._tiles is not None:
            self._bars.remove_task(self._tiles)
            self._tiles = None


@contextmanager
def restore_progress(total: int, disable: bool = False) -> Iterator[RestoreBar]:
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=stderr, transient=True, disable=disable,
    ) as bars:  # fmt: skip
        yield RestoreBar(bars, total)
