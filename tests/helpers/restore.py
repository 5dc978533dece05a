"""Small networks and checkpoints for restore/inference tests (built from the registry's
tiny configs: no trained weights exist offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from deblur_cli.models import create, get_spec


def tiny_model(name: str, **overrides: Any) -> nn.Module:
    """The registry's tiny config of `name`, seeded (same weights on every call)."""
    torch.manual_seed(0)
    return create(name, **{**get_spec(name).tiny_config, **overrides})


def perturbed(name: str) -> nn.Module:
    """A tiny network whose zero-initialised residual scales are randomised, so that every
    block really changes the image (otherwise the network is an identity)."""
    model = tiny_model(name)
    with torch.no_grad():
        for key, p in model.named_parameters():
            if key.endswith(("beta", "gamma", "alpha")):
                p.normal_(0, 0.5)
    return model


def tiny_checkpoint(path: Path, name: str, **overrides: Any) -> Path:
    """Save a tiny `name` network in the seed's container ({"params": state_dict})."""
    torch.save({"epoch": 3, "params": tiny_model(name, **overrides).state_dict()}, path)
    return path


def write_noise(path: Path, height: int = 40, width: int = 56, seed: int = 0) -> Path:
    """An 8-bit BGR noise image, in the format the suffix names."""
    img = (np.random.RandomState(seed).rand(height, width, 3) * 255).astype(np.uint8)
    cv2.imwrite(str(path), img)
    return path
