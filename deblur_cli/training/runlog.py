"""The run's log files: `log.csv` (one row per log interval and per validation, appended on
resume) and, with the `tensorboard` extra, TensorBoard scalars. Written by rank 0 only.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import TrainingError
from .validate import ValResult

FIXED = ("step", "epoch", "samples", "lr", "loss")
TAIL = ("steps_per_s", "samples_per_s", "val_psnr", "val_ssim", "elapsed_s")


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


class RunLog:
    """CSV rows of averaged losses; `resume_at(step)` drops rows a killed run wrote after its
    last checkpoint, so the resumed log has each step once."""

    def __init__(
        self, path: Path, terms: Sequence[str], tensorboard_dir: Path | None = None
    ) -> None:
        self.path = path
        self.columns = (*FIXED, *terms, *TAIL)
        self.sums: dict[str, float] = {}
        self.count = 0
        self.writer = _tensorboard(tensorboard_dir) if tensorboard_dir else None

    def resume_at(self, step: int) -> None:
        if not self.path.is_file():
            return
        with self.path.open(newline="") as f:
            rows = [
                r
                for r in csv.DictReader(f)
                if r.get("step", "").isdigit() and int(r["step"]) <= step
            ]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        self.path.write_text(buffer.getvalue())

    def add(self, losses: dict[str, float]) -> None:
        """Accumulate one step's losses into the running mean of the next row."""
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1

    def row(
        self, *, step: int, epoch: int, samples: int, lr: float, steps_per_s: float,
        samples_per_s: float, elapsed_s: float, validation: ValResult | None = None,
    ) -> None:  # fmt: skip
        means = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        values: dict[str, Any] = {
            "step": step, "epoch": epoch, "samples": samples, "lr": lr, **means,
            "steps_per_s": round(steps_per_s, 4), "samples_per_s": round(samples_per_s, 3),
            "val_psnr": validation.psnr if validation else None,
            "val_ssim": validation.ssim if validation else None, "elapsed_s": round(elapsed_s, 2),
        }  # fmt: skip
        new = not self.path.is_file() or self.path.stat().st_size == 0
        try:
            with self.path.open("a", newline="") as f:
                if new:
                    f.write(",".join(self.columns) + "\n")
                f.write(",".join(_fmt(values.get(c)) for c in self.columns) + "\n")
        except OSError as exc:
            raise TrainingError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        if self.writer is not None:
            for key, value in means.items():
                self.writer.add_scalar(f"train/{key}", value, step)
            self.writer.add_scalar("train/lr", lr, step)
            if validation is not None:
                self.writer.add_scalar("val/psnr", validation.psnr, step)
                if validation.ssim is not None:
                    self.writer.add_scalar("val/ssim", validation.ssim, step)
            self.writer.flush()
        self.sums, self.count = {}, 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise TrainingError(
            "--tensorboard needs the tensorboard package: pip install 'deblur-cli[tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=str(folder))
