"""Every error the core raises on purpose: one `DeblurError` tree, nothing else crosses into cli/.

The CLI turns each into a one-line message and a non-zero exit. Packages raise these (or their
own subclasses declared here) instead of bare ValueError/KeyError, so callers can catch by kind.
"""

from __future__ import annotations


class DeblurError(Exception):
    """Base class of every error the core raises on purpose."""


class InvalidArgumentError(DeblurError, ValueError):
    """An argument outside its documented range or choices (a size, a count, a name)."""


class UnknownModelError(DeblurError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputSizeError(DeblurError, ValueError):
    """An input whose height or width is not a multiple of the model's size multiple."""


class InputArrayError(DeblurError, ValueError):
    """An array or tensor handed to the public API with the wrong dtype, shape or range."""


# --- weights and checkpoints -------------------------------------------------------------


class WeightsError(DeblurError):
    """A checkpoint that cannot be found, downloaded, verified or loaded."""


class RegistryError(WeightsError):
    """A weights registry (TOML) or cache index that is malformed or unreadable."""


class UnknownWeightsError(WeightsError):
    """A weights name that is neither registered nor a file."""


class DownloadError(WeightsError):
    """A download that failed (network, HTTP status, Drive page, disk)."""


class ChecksumMismatchError(WeightsError):
    """A file whose sha256 differs from the registry's or the cache index's record."""


class NotCachedError(WeightsError):
    """Weights that are registered but not downloaded yet."""


class WeightsExistError(WeightsError):
    """An import or download that would replace existing weights without `overwrite`."""


class CheckpointError(WeightsError):
    """A checkpoint file that cannot be read as a state dict."""


class CorruptCheckpointError(CheckpointError):
    """A truncated or corrupt checkpoint file."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that needs globals outside the safe allow-list (refused, never executed)."""


class StateDictMismatchError(CheckpointError):
    """Keys or shapes that do not match the architecture strictly."""


class UnknownArchitectureError(CheckpointError):
    """A state dict that matches no registered architecture."""


class ArchitectureMismatchError(CheckpointError):
    """A state dict of another architecture than the one asked for."""


class DetectorBugError(CheckpointError):
    """A detection rule that raised instead of answering: a bug to report, not a user error."""


# --- files, data, runs ---------------------------------------------------------------------


class ImageError(DeblurError):
    """An image file that cannot be read or written."""


class OutputPathError(DeblurError):
    """An output path that would overwrite an input, escape its folder, or collide."""


class DatasetError(DeblurError):
    """A dataset root, list file or pair that does not match the expected layout."""


class ResultsFileError(DeblurError):
    """An earlier results file that is unreadable, or would be lost by a new run."""


class RestoreError(DeblurError):
    """Restoration that cannot run (device unavailable, out of memory at the smallest tile)."""


class ProfileError(DeblurError):
    """A profiling request that cannot be measured as asked."""


class BenchmarkError(DeblurError):
    """A benchmark request or cache that cannot be used."""


class PlotError(DeblurError):
    """A plot that cannot be drawn (the optional plotting extra is missing)."""


class TrainingError(DeblurError):
    """A training recipe, state or run that cannot continue (bad key, NaN loss, bad resume)."""


class ExportError(DeblurError):
    """An export that failed or whose exported model disagrees with PyTorch."""


class EngineError(DeblurError):
    """An inference engine that is unknown or whose optional extra is not installed."""
