"""Safe checkpoint loading: containers, `module.`, strict loading with the aux-key rule,
refusal of code-executing pickles, truncated files and safetensors conversion.

Synthetic checkpoints are built from the manifests with stride-0 tensors (one stored element
per key, expanded to the listed shape), so a width-32 file is a few kB on disk; each key gets
its own value so a test can see where every tensor landed.
"""

from __future__ import annotations

import ast
import json
import pathlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.shared import shared_path

import deblur_cli.checkpoints
from deblur_cli.checkpoints import (
    ArchitectureMismatchError,
    CheckpointError,
    CorruptCheckpointError,
    StateDictMismatchError,
    UnsafeCheckpointError,
    check_architecture,
    convert_to_safetensors,
    detect_file,
    load_model,
    read_checkpoint,
    shapes_of,
    unwrap_state_dict,
)
from deblur_cli.models import create


def manifest(name: str) -> dict[str, Any]:
    return json.loads(shared_path("fixtures", "manifests", name).read_text())


def synthetic_state_dict(
    pairs: list[list[Any]], aliases: list[list[str]] = ()
) -> dict[str, torch.Tensor]:
    """Key i holds the value i everywhere; an alias holds its original's value (same storage)."""
    sd = {
        k: torch.full((1,), float(i)).expand(*s) if s else torch.tensor(float(i))
        for i, (k, s) in enumerate(pairs)
    }
    for alias, original in aliases:
        sd[alias] = sd[original]
    return sd


def small_state_dict(model: str, **config: Any) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {k: v.clone() for k, v in create(model, **config).state_dict().items()}


def save(obj: Any, path: Path) -> Path:
    torch.save(obj, path)
    return path


def wrap(sd: dict[str, torch.Tensor], container: str, prefix: bool) -> Any:
    if prefix:
        sd = {f"module.{k}": v for k, v in sd.items()}
    if container == "plain":
        return sd
    if container == "seed":  # the seed's training checkpoint
        return {
            "epoch": 3,
            "best_eval": np.float64(31.2),
            "params": sd,
            "optimizer": {"state": {}, "param_groups": []},
        }
    return {container: sd}


# --- containers and prefixes -------------------------------------------------------------


@pytest.mark.parametrize("container", ["plain", "params", "params_ema", "state_dict", "seed"])
@pytest.mark.parametrize("prefix", [False, True])
def test_containers_and_module_prefix(tmp_path: Path, container: str, prefix: bool) -> None:
    sd = small_state_dict("mlwnet", dim=4)
    path = save(wrap(sd, container, prefix), tmp_path / "ckpt.pth")
    loaded = load_model(path)
    assert (loaded.name, loaded.config["dim"], loaded.detected) == ("mlwnet", 4, True)
    assert loaded.container == {"seed": "params"}.get(container, container)
    assert loaded.stripped_prefix is prefix
    got = loaded.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in sd.items())


def test_explicit_container(tmp_path: Path) -> None:
    sd = small_state_dict("mlwnet", dim=4)
    path = save({"params": {"x": torch.zeros(1)}, "params_ema": sd}, tmp_path / "ema.pth")
    assert read_checkpoint(path, container="params_ema").container == "params_ema"
    with pytest.raises(CheckpointError, match="no 'state_dict' entry"):
        read_checkpoint(path, container="state_dict")
    with pytest.raises(CheckpointError, match="no state dict found"):
        unwrap_state_dict({"epoch": 3, "optimizer": {}})


def test_official_mlwnet_checkpoint_keys(tmp_path: Path) -> None:
    """The released realblur_j-width32.pth layout: {"params": 916 keys incl. 48 aliases}."""
    data = manifest("official_mlwnet_realblur_j_width32.json")
    sd = synthetic_state_dict(data["state_dict"])
    for prefix in (False, True):
        path = save(wrap(sd, "params", prefix), tmp_path / f"official_{prefix}.pth")
        ckpt = read_checkpoint(path, container="params")
        assert list(ckpt.state_dict) == [k for k, _ in data["state_dict"]]
        assert check_architecture(shapes_of(ckpt.state_dict), "mlwnet-local", {"dim": 32}) == ()
        detection = detect_file(path)
        assert (detection.model, detection.config["dim"]) == ("mlwnet", 32)


@pytest.mark.slow
def test_official_mlwnet_checkpoint_loads_strictly(tmp_path: Path) -> None:
    """Width 32 for real (~100 MB): every value lands under its key, aliases included."""
    data = manifest("official_mlwnet_realblur_j_width32.json")
    values = {k: float(i) for i, (k, _) in enumerate(data["state_dict"])}
    for alias, original in data["aliased_keys"]:
        values[alias] = values[original]
    sd = synthetic_state_dict(data["state_dict"], data["aliased_keys"])
    path = save(
        {"params": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "realblur_j-width32.pth"
    )
    loaded = load_model(path, model="mlwnet-local", config={"dim": 32}, container="params")
    got = loaded.model.state_dict()
    assert set(got) == set(values)
    assert all(bool((got[k] == v).all()) for k, v in values.items())


# --- the aux-key rule --------------------------------------------------------------------


@pytest.mark.parametrize("model", ["hybridnet", "ce-mlwnet"])
def test_aux_head_keys_dropped_only_when_heads_off(tmp_path: Path, model: str) -> None:
    sd = small_state_dict(model, dim=4, aux_heads=True)
    path = save(wrap(sd, "seed", False), tmp_path / "seed.pth")
    off = load_model(path)
    assert off.config.get("aux_heads") in (None, False)
    assert len(off.dropped_keys) == 6 and all(
        k not in off.model.state_dict() for k in off.dropped_keys
    )
    on = load_model(path, model=model, config={"aux_heads": True})
    assert on.dropped_keys == ()
    assert set(on.model.state_dict()) == set(sd)


def test_manifest_training_keys(tmp_path: Path) -> None:
    data = manifest("hybridnet.json")
    sd = synthetic_state_dict(data["state_dict"] + data["training_only_keys"])
    path = save({"params": sd}, tmp_path / "HybridNet_d32.pth")
    detection = detect_file(path, container="params")
    assert set(detection.training_keys) == {k for k, _ in data["training_only_keys"]}


def test_missing_and_extra_keys_are_errors(tmp_path: Path) -> None:
    sd = small_state_dict("fftformer", dim=8)
    sd.pop("output.weight")
    sd["output.extra"] = torch.zeros(3)
    path = save(sd, tmp_path / "bad.pth")
    with pytest.raises(StateDictMismatchError) as info:
        load_model(path)
    assert "1 missing: output.weight" in str(info.value)
    assert "1 unexpected: output.extra" in str(info.value)


def test_other_architecture_is_refused(tmp_path: Path) -> None:
    path = save({"params": small_state_dict("ce-mlwnet", dim=4)}, tmp_path / "Network.pth")
    with pytest.raises(ArchitectureMismatchError, match="holds ce-mlwnet .*not mlwnet"):
        load_model(path, model="mlwnet")
    # same family: width read from the file; explicit wrong width is a shape error
    path = save({"params": small_state_dict("mlwnet", dim=4)}, tmp_path / "m4.pth")
    assert load_model(path, model="mlwnet-local").config["dim"] == 4
    with pytest.raises(StateDictMismatchError, match="mis-shaped"):
        load_model(path, model="mlwnet", config={"dim": 8})


# --- unsafe and damaged files ------------------------------------------------------------


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.marker,))


def test_malicious_pickle_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = save({"params": {"w": torch.zeros(1)}, "x": _Payload(marker)}, tmp_path / "evil.pth")
    with pytest.raises(UnsafeCheckpointError, match="would execute code"):
        load_model(path)
    assert not marker.exists()


def test_truncated_and_foreign_files(tmp_path: Path) -> None:
    good = save({"params": small_state_dict("mlwnet", dim=4)}, tmp_path / "good.pth")
    data = good.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="truncated or corrupt"):
        read_checkpoint(cut)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CorruptCheckpointError, match="empty"):
        read_checkpoint(empty)
    html = tmp_path / "quota.pth"  # what Drive serves instead of a file when over quota
    html.write_bytes(b"<!DOCTYPE html><html>Google Drive - Quota exceeded</html>")
    with pytest.raises(CorruptCheckpointError, match="not a PyTorch or safetensors"):
        read_checkpoint(html)
    with pytest.raises(CheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "absent.pth")


def test_non_tensor_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_checkpoint(save([1, 2, 3], tmp_path / "list.pth"))


# --- safetensors -------------------------------------------------------------------------


def test_convert_round_trip_keeps_aliases(tmp_path: Path) -> None:
    sd = small_state_dict("mlwnet", dim=4)
    src = save({"params": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "m.pth")
    result = convert_to_safetensors(src, tmp_path / "out" / "m.safetensors")
    assert (result.model, result.config["dim"], result.tensors) == ("mlwnet", 4, len(sd))
    ckpt = read_checkpoint(result.output)
    assert ckpt.file_format == "safetensors"
    got = load_model(result.output).model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in sd.items())
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_convert_drops_training_keys(tmp_path: Path) -> None:
    src = save(
        wrap(small_state_dict("ce-mlwnet", dim=4, aux_heads=True), "seed", False),
        tmp_path / "ce.pth",
    )
    result = convert_to_safetensors(src, tmp_path / "ce.safetensors")
    assert len(result.dropped_keys) == 6
    assert load_model(result.output).dropped_keys == ()


def test_convert_refuses_other_suffix_and_bad_input(tmp_path: Path) -> None:
    src = save(small_state_dict("mlwnet", dim=4), tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match="must end in .safetensors"):
        convert_to_safetensors(src, tmp_path / "m.bin")
    bad = save({"conv.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError):
        convert_to_safetensors(bad, tmp_path / "other.safetensors")
    assert not (tmp_path / "other.safetensors").exists()


def test_truncated_safetensors(tmp_path: Path) -> None:
    result = convert_to_safetensors(
        save(small_state_dict("mlwnet", dim=4), tmp_path / "m.pth"), tmp_path / "m.safetensors"
    )
    data = result.output.read_bytes()
    result.output.write_bytes(data[: len(data) - 1000])
    with pytest.raises(CorruptCheckpointError):
        read_checkpoint(result.output)


# --- import direction --------------------------------------------------------------------


def test_checkpoints_never_import_weights() -> None:
    """weights builds on checkpoints; the reverse import (even inside a function) is a cycle."""
    package = Path(deblur_cli.checkpoints.__file__).parent
    for source in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{'.' * node.level}{node.module or ''}"]
                names += [f"{'.' * node.level}{a.name}" for a in node.names if not node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any(
                n.split(".")[-1] == "weights" or n.startswith(("..weights", "deblur_cli.weights"))
                for n in names
            ), f"{source.name}:{node.lineno} imports weights"
