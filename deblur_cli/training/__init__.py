"""Training: typed recipes, data pipelines (paired and synthetic camera shake), losses, the loop.

May import models, datasets, files, checkpoints, weights and metrics; nothing imports it but cli.
"""
