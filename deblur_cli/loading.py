"""Public path of the loading API (`deblur_cli.loading.load_for_inference`); it lives in
`deblur_cli.inference.loading`, next to the Restorer that runs what it loads."""

from .inference.loading import DEFAULT_MODEL, ReadyModel, default_weights, load_for_inference

__all__ = ["DEFAULT_MODEL", "ReadyModel", "default_weights", "load_for_inference"]
