"""Helpers that turn the shared fixtures (goldens, manifests) into our models' inputs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from helpers.shared import shared_path

# Upstream constructor names -> our config names (fixtures/README.md: "map them once").
_RENAME = {"inp_channels": "in_channels"}


def our_config(upstream: dict[str, Any]) -> dict[str, Any]:
    cfg = {_RENAME.get(k, k): v for k, v in upstream.items()}
    if "num_blocks" in cfg:
        cfg["num_blocks"] = tuple(cfg["num_blocks"])
    return cfg


def registry_name(fixture_model: str) -> str:
    return fixture_model.replace("_", "-")


def load_golden(name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    sidecar = json.loads(shared_path("fixtures", "golden", f"{name}.json").read_text())
    with np.load(shared_path("fixtures", "golden", f"{name}.npz")) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return sidecar, arrays


def state_dict_of(arrays: dict[str, np.ndarray], prefix: str = "") -> dict[str, torch.Tensor]:
    out = {}
    for key, value in arrays.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix) :]
        if not key.startswith("@"):
            out[key] = torch.from_numpy(value)
    return out


def load_manifest(name: str) -> dict[str, Any]:
    return json.loads(shared_path("fixtures", "manifests", f"{name}.json").read_text())


def max_abs_diff(a: torch.Tensor, b: np.ndarray) -> float:
    return float((a.detach().float() - torch.from_numpy(b)).abs().max())


def block_golden_diff(module: torch.nn.Module, case: str) -> float:
    """Load case `case` of the `blocks_small` golden into `module` (strictly), run it on the
    golden's inputs and return the largest difference to the golden's output."""
    sidecar, arrays = load_golden("blocks_small")
    module.load_state_dict(state_dict_of(arrays, f"{case}/"), strict=True)
    inputs = [torch.from_numpy(arrays[n]) for n in sidecar["cases"][case]["inputs"]]
    with torch.no_grad():
        out = module(*inputs)
    return max_abs_diff(out, arrays[f"{case}/@output"])
