"""Training: typed recipes, data pipelines (paired and synthetic camera shake), losses, the loop.

May import models, datasets, files, checkpoints, weights and metrics; nothing imports it but cli.
"""

from .config import TrainConfig
from .events import RunOptions, TrainEvent, TrainPlan, TrainReport
from .loop import train
from .plan import plan_training
from .recipes import list_recipes, resolve_recipe

__all__ = [
    "RunOptions",
    "TrainConfig",
    "TrainEvent",
    "TrainPlan",
    "TrainReport",
    "list_recipes",
    "plan_training",
    "resolve_recipe",
    "train",
]
