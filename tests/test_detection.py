"""Architecture detection from state-dict keys and shapes (spandrel style): the published
manifests, every registered model rebuilt at several widths, and the near misses."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest
import torch
from helpers.shared import shared_path

import deblur_cli.models.registry
from deblur_cli.checkpoints import (
    DetectorBugError,
    StateDictMismatchError,
    UnknownArchitectureError,
    check_architecture,
    detect_architecture,
    expected_shapes,
    guess_architecture,
    shapes_of,
)
from deblur_cli.models import create, get_spec, list_models

# manifest file -> (registry model, our config); upstream names mapped once, here
MANIFESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "fftformer.json": (
        "fftformer",
        {
            "dim": 48,
            "num_blocks": (6, 6, 12),
            "num_refinement_blocks": 4,
            "ffn_expansion_factor": 3.0,
            "bias": False,
            "in_channels": 3,
            "out_channels": 3,
        },
    ),
    "official_fftformer.json": (
        "fftformer",
        {
            "dim": 48,
            "num_blocks": (6, 6, 12),
            "num_refinement_blocks": 4,
            "ffn_expansion_factor": 3.0,
            "bias": False,
            "in_channels": 3,
            "out_channels": 3,
        },
    ),
    "mlwnet.json": ("mlwnet", {"dim": 32, "in_channels": 3, "out_channels": 3}),
    "mlwnet_width64.json": ("mlwnet", {"dim": 64, "in_channels": 3, "out_channels": 3}),
    "official_mlwnet_realblur_j_width32.json": (
        "mlwnet",
        {"dim": 32, "in_channels": 3, "out_channels": 3},
    ),
    "hybridnet.json": (
        "hybridnet",
        {"dim": 32, "expand_dim": 2.0, "use_bridge": True, "in_channels": 3, "out_channels": 3},
    ),
    "ce_mlwnet.json": (
        "ce-mlwnet",
        {"dim": 32, "expand_dim": 2.0, "in_channels": 3, "out_channels": 3},
    ),
}


def manifest(name: str) -> dict[str, Any]:
    return json.loads(shared_path("fixtures", "manifests", name).read_text())


def manifest_shapes(name: str, training_keys: bool = False) -> dict[str, tuple[int, ...]]:
    data = manifest(name)
    pairs = data["state_dict"] + (data.get("training_only_keys", []) if training_keys else [])
    return {k: tuple(s) for k, s in pairs}


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_manifest_detected(name: str) -> None:
    model, config = MANIFESTS[name]
    detection = detect_architecture(manifest_shapes(name))
    assert detection.model == model
    assert detection.config == config
    assert detection.training_keys == ()


@pytest.mark.parametrize("name", ["hybridnet.json", "ce_mlwnet.json"])
def test_seed_training_checkpoint_layout(name: str) -> None:
    """Seed checkpoints hold the aux-head keys: detected, reported, config keeps aux heads off."""
    data = manifest(name)
    detection = detect_architecture(manifest_shapes(name, training_keys=True))
    assert detection.model == MANIFESTS[name][0]
    assert "aux_heads" not in detection.config
    assert set(detection.training_keys) == {k for k, _ in data["training_only_keys"]}


def test_mlwnet_width_32_vs_64() -> None:
    assert guess_architecture(manifest_shapes("mlwnet.json")).config["dim"] == 32
    assert guess_architecture(manifest_shapes("mlwnet_width64.json")).config["dim"] == 64
    # and the two layouts are not interchangeable
    with pytest.raises(StateDictMismatchError, match="mis-shaped"):
        check_architecture(manifest_shapes("mlwnet_width64.json"), "mlwnet", {"dim": 32})


def test_ce_mlwnet_is_not_mlwnet() -> None:
    ce, mlw = (
        guess_architecture(manifest_shapes("ce_mlwnet.json")),
        guess_architecture(manifest_shapes("mlwnet.json")),
    )
    assert (ce.model, mlw.model) == ("ce-mlwnet", "mlwnet")
    with pytest.raises(StateDictMismatchError):
        check_architecture(manifest_shapes("ce_mlwnet.json"), "mlwnet", {"dim": 32})


def test_mlwnet_local_shares_the_state_dict() -> None:
    detection = guess_architecture(manifest_shapes("mlwnet.json"))
    assert "mlwnet-local" in detection.same_state_dict
    check_architecture(manifest_shapes("mlwnet.json"), "mlwnet-local", detection.config)


def test_manifests_equal_models_built_on_meta() -> None:
    """The expected layouts the loader checks against are exactly the published ones."""
    for name, (model, config) in MANIFESTS.items():
        assert expected_shapes(model, config) == manifest_shapes(name), name


# every registry entry at several widths: detection recovers the model and a config that
# rebuilds the same layout (spandrel's test pattern)
_WIDTH_CASES = [(name, dim) for name in list_models() for dim in (8, 16, 32)]
_EXTRA_CASES: list[tuple[str, dict[str, Any]]] = [
    ("mlwnet", {"dim": 64}),
    (
        "fftformer",
        {
            "dim": 16,
            "num_blocks": (1, 2, 3),
            "num_refinement_blocks": 2,
            "ffn_expansion_factor": 2.66,
            "bias": True,
        },
    ),
    ("fftformer", {"dim": 12, "in_channels": 1, "out_channels": 1}),
    ("hybridnet", {"dim": 8, "use_bridge": False}),
    ("hybridnet", {"dim": 8, "aux_heads": True}),
    ("ce-mlwnet", {"dim": 8, "aux_heads": True}),
]


@pytest.mark.parametrize(
    ("name", "overrides"), [(n, {"dim": d}) for n, d in _WIDTH_CASES] + _EXTRA_CASES
)
def test_registry_round_trip(name: str, overrides: dict[str, Any]) -> None:
    with torch.device("meta"):
        shapes = shapes_of(create(name, **overrides).state_dict())
    detection = detect_architecture(shapes)
    spec = get_spec(name)
    assert detection.model == name or name in detection.same_state_dict
    assert get_spec(detection.model).builder is spec.builder
    for key, value in overrides.items():
        if key != "aux_heads" and key != "ffn_expansion_factor":
            assert detection.config[key] == value
    rebuilt = expected_shapes(detection.model, detection.config)
    aux = set(detection.training_keys)
    assert rebuilt == {k: s for k, s in shapes.items() if k not in aux}
    assert bool(aux) == bool(overrides.get("aux_heads"))


@pytest.mark.parametrize(
    "golden", ["fftformer_small", "mlwnet_small", "hybridnet_small", "ce_mlwnet_small"]
)
def test_golden_state_dicts_detected(golden: str) -> None:
    """Real (small) weights: detection reads the golden's width and block counts."""
    sidecar = json.loads(shared_path("fixtures", "golden", f"{golden}.json").read_text())
    with np.load(shared_path("fixtures", "golden", f"{golden}.npz")) as npz:
        shapes = {k: npz[k].shape for k in npz.files if not k.startswith("@")}
    detection = detect_architecture(shapes)
    config = sidecar["config"]
    assert detection.model == get_spec(sidecar["model"]).name
    assert detection.config["dim"] == config["dim"]
    if "num_blocks" in config:
        assert detection.config["num_blocks"] == tuple(config["num_blocks"][:3])
        assert detection.config["num_refinement_blocks"] == config["num_refinement_blocks"]
    assert bool(detection.training_keys) == bool(config.get("aux_heads"))


def test_unknown_layout() -> None:
    with pytest.raises(UnknownArchitectureError, match="no registered architecture"):
        detect_architecture({"conv1.weight": (64, 3, 7, 7), "fc.weight": (1000, 512)})


def test_every_rule_comes_from_the_registry() -> None:
    """Detection asks each entry's own rule: no second per-model list in checkpoints."""
    with_rule = [n for n in list_models() if get_spec(n).detect is not None]
    assert set(list_models()) - set(with_rule) <= {
        n
        for n in list_models()
        for m in with_rule
        if n != m and get_spec(n).builder is get_spec(m).builder
    }
    for name in with_rule:
        with torch.device("meta"):
            shapes = shapes_of(create(name, **get_spec(name).tiny_config).state_dict())
        assert guess_architecture(shapes).model == name


def test_a_rule_that_raises_is_a_bug_report(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(shapes: Any) -> dict[str, Any] | None:
        return {"dim": shapes["patch_embed.proj.weight"][0] // 0}

    spec = dataclasses.replace(get_spec("fftformer"), detect=broken)
    monkeypatch.setitem(deblur_cli.models.registry._REGISTRY, "fftformer", spec)
    with pytest.raises(DetectorBugError) as info:
        detect_architecture(manifest_shapes("fftformer.json"))
    message = str(info.value)
    assert "detection rule of fftformer raised ZeroDivisionError" in message
    assert "bug" in message and "no registered architecture" not in message


def test_extra_missing_and_misshaped_keys_are_named() -> None:
    shapes = manifest_shapes("hybridnet.json")
    shapes["decoder.extra.weight"] = (3, 3)
    del shapes["decoder.head.bias"]
    shapes["embedding.conv.bias"] = (31,)
    with pytest.raises(StateDictMismatchError) as info:
        detect_architecture(shapes)
    message = str(info.value)
    assert "\n" not in message
    assert "1 missing: decoder.head.bias" in message
    assert "1 unexpected: decoder.extra.weight" in message
    assert "embedding.conv.bias (31) vs (32)" in message


def test_only_documented_aux_keys_may_be_extra() -> None:
    """An aux-looking key that is not one of the model's own training-only keys is an error."""
    shapes = manifest_shapes("ce_mlwnet.json", training_keys=True)
    shapes["decoder.head5.block.weight"] = (3, 512, 3, 3)
    with pytest.raises(StateDictMismatchError, match="unexpected: decoder.head5.block.weight"):
        detect_architecture(shapes)
    shapes = manifest_shapes("ce_mlwnet.json", training_keys=True)
    shapes["decoder.head2.block.weight"] = (3, 65, 3, 3)
    with pytest.raises(StateDictMismatchError, match="mis-shaped"):
        detect_architecture(shapes)
