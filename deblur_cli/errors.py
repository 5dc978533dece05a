"""Typed errors raised by the core. The CLI turns each into a one-line message and an exit code."""

from __future__ import annotations


class DeblurError(Exception):
    """Base class of every error the core raises on purpose."""


class UnknownModelError(DeblurError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputSizeError(DeblurError, ValueError):
    """An input whose height or width is not a multiple of the model's size multiple."""


class WeightsError(DeblurError):
    """A checkpoint that cannot be found, downloaded, verified or loaded."""


class ImageError(DeblurError):
    """An image file that cannot be read or written."""


class DatasetError(DeblurError):
    """A dataset root, list file or pair that does not match the expected layout."""
