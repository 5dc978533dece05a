"""Checkpoint files: safe loading, container unwrapping, strict key/shape checks, architecture
detection from a state dict (as spandrel does) and conversion to safetensors.

Loading rules are those of architectures §8: never execute pickled code; unwrap the container
(explicit key, else `params` → `params_ema` → `state_dict` → plain); strip a leading `module.`;
load strictly. The only keys that may be dropped are a model's training-only aux-head keys when
its aux heads are off. Every failure is a one-line `CheckpointError`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
import struct
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import WeightsError
from .files import atomic_write_bytes
from .models import create, get_spec, list_models

CONTAINER_KEYS = ("params", "params_ema", "state_dict")
MODULE_PREFIX = "module."
PLAIN = "plain"
_SHOWN = 5  # how many keys of each kind a mismatch message lists

Shapes = Mapping[str, tuple[int, ...]]


class CheckpointError(WeightsError):
    """A checkpoint file that cannot be read or does not fit the model."""


class CorruptCheckpointError(CheckpointError):
    """Truncated, empty or not a checkpoint at all."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that needs code execution to load; refused."""


class StateDictMismatchError(CheckpointError):
    """Missing, unexpected or mis-shaped keys against the architecture."""


class UnknownArchitectureError(CheckpointError):
    """No registered architecture has this state dict layout."""


class ArchitectureMismatchError(CheckpointError):
    """The file holds a different architecture from the one asked for."""


@dataclass(frozen=True)
class Checkpoint:
    """A state dict read from a file, with how it was found."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    container: str  # the key it was found under, or "plain"
    stripped_prefix: bool  # a leading "module." was removed from every key
    file_format: str  # "torch" or "safetensors"


@dataclass(frozen=True)
class Detection:
    """Which registered model a state dict belongs to.

    Attributes:
        model: registry name.
        config: `create()` overrides that rebuild it (aux heads always off).
        training_keys: aux-head keys present in the file, dropped when loading for inference.
        same_state_dict: other registry names with an identical state dict (mlwnet-local for
            mlwnet); any of them loads the file.
    """

    model: str
    config: dict[str, Any]
    training_keys: tuple[str, ...] = ()
    same_state_dict: tuple[str, ...] = ()

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.config.items())
        return f"{self.model} ({args})" if args else self.model


@dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode with the checkpoint strictly loaded into it."""

    model: nn.Module
    name: str
    config: dict[str, Any]
    checkpoint: Path
    container: str
    stripped_prefix: bool
    dropped_keys: tuple[str, ...]
    detected: bool  # the architecture came from the file, not from the caller


@dataclass(frozen=True)
class ConvertResult:
    source: Path
    output: Path
    model: str
    config: dict[str, Any]
    tensors: int
    bytes: int
    dropped_keys: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# reading


def _sniff(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        raise CorruptCheckpointError(f"{path}: empty file")
    if head[:4] == b"PK\x03\x04":
        return "torch"
    if head[:1] == b"\x80":  # legacy (pre-1.6) torch.save: a bare pickle stream
        return "torch"
    if len(head) >= 9 and head[8:9] == b"{":
        (header_len,) = struct.unpack("<Q", head[:8])
        if header_len < path.stat().st_size:
            return "safetensors"
    raise CorruptCheckpointError(f"{path}: not a PyTorch or safetensors checkpoint")


def _numpy_scalar_globals() -> list[Any]:
    # Training scripts often store metrics as numpy scalars (the seed's `best_eval`). Rebuilding
    # a numpy scalar or dtype only copies bytes, so these constructors are allowed; nothing else
    # beyond torch's own allowlist is. numpy 1.x files name the module `numpy.core`.
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return []
    core = getattr(np, "_core", None) or np.core
    scalar = core.multiarray.scalar
    allowed: list[Any] = [np.dtype, scalar, (scalar, "numpy.core.multiarray.scalar")]
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return allowed


def _torch_load(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        what = f" ({found.group(1)})" if found else ""
        raise UnsafeCheckpointError(
            f"{path}: refused, loading it would execute code{what}; only tensor checkpoints "
            "are loaded (torch.load weights_only=True)"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, struct.error) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CorruptCheckpointError(f"{path}: truncated or corrupt checkpoint ({first})") from None


def _safetensors_load(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CorruptCheckpointError(
            f"{path}: truncated or corrupt safetensors file ({first})"
        ) from None


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def unwrap_state_dict(
    obj: Any, container: str | None = None
) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict inside a checkpoint object and the key it was under ("plain" if none).

    With `container` (from the weights registry) only that key is accepted; otherwise
    `params`, `params_ema`, `state_dict`, then the object itself (architectures §8).
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint holds a {type(obj).__name__}, not a state dict")
    if container is not None and container != PLAIN:
        if container not in obj:
            keys = ", ".join(map(str, list(obj)[:_SHOWN]))
            raise CheckpointError(f"checkpoint has no '{container}' entry (top-level keys: {keys})")
        candidates: Iterable[str] = (container,)
    elif container == PLAIN:
        candidates = ()
    else:
        candidates = (k for k in CONTAINER_KEYS if k in obj)
    for key in candidates:
        if _is_state_dict(obj[key]):
            return dict(obj[key]), key
        raise CheckpointError(f"checkpoint entry '{key}' is not a state dict of tensors")
    if _is_state_dict(obj):
        return dict(obj), PLAIN
    keys = ", ".join(map(str, list(obj)[:_SHOWN]))
    raise CheckpointError(
        f"no state dict found: not a plain state dict and none of {', '.join(CONTAINER_KEYS)} "
        f"is present (top-level keys: {keys})"
    )


def strip_module_prefix(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], bool]:
    """Remove the `module.` that DistributedDataParallel puts on every key."""
    if state_dict and all(k.startswith(MODULE_PREFIX) for k in state_dict):
        return {k[len(MODULE_PREFIX) :]: v for k, v in state_dict.items()}, True
    return dict(state_dict), False


def read_checkpoint(path: str | os.PathLike[str], container: str | None = None) -> Checkpoint:
    """Load a `.pth`/`.pt`/`.safetensors` file safely and return its unwrapped state dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    file_format = _sniff(path)
    if file_format == "safetensors":
        state_dict, found = _safetensors_load(path), PLAIN
    else:
        state_dict, found = unwrap_state_dict(_torch_load(path), container)
    state_dict, stripped = strip_module_prefix(state_dict)
    return Checkpoint(path, state_dict, found, stripped, file_format)


def shapes_of(state_dict: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Key → shape, from tensors or from anything with a `.shape` (or already a shape)."""
    return {k: tuple(getattr(v, "shape", v)) for k, v in state_dict.items()}


# ---------------------------------------------------------------------------------------------
# expected layouts and strict checks


def expected_shapes(
    model: str, config: Mapping[str, Any] | None = None
) -> dict[str, tuple[int, ...]]:
    """State-dict shapes of a registered model, built on the meta device (no memory, ~50 ms)."""
    with torch.device("meta"):
        net = create(model, **dict(config or {}))
    return shapes_of(net.state_dict())


def training_only_shapes(
    model: str, config: Mapping[str, Any] | None = None
) -> dict[str, tuple[int, ...]]:
    """The aux-head keys a training checkpoint adds to the inference layout (empty if none)."""
    spec = get_spec(model)
    config = dict(config or {})
    if not spec.training_only_prefixes or config.get("aux_heads"):
        return {}
    inference = expected_shapes(model, config)
    training = expected_shapes(model, {**config, "aux_heads": True})
    # only keys under the registry's documented prefixes (architectures §4-5) may ever be dropped
    return {
        k: s
        for k, s in training.items()
        if k not in inference and k.startswith(spec.training_only_prefixes)
    }


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def check_state_dict(
    shapes: Shapes,
    expected: Shapes,
    droppable: Shapes | None = None,
    what: str = "the model",
) -> tuple[str, ...]:
    """Strict key and shape match; returns the droppable keys present (to drop before loading).

    Raises StateDictMismatchError naming the first missing, unexpected and mis-shaped keys.
    """
    droppable = droppable or {}
    missing = [k for k in expected if k not in shapes]
    unexpected = [k for k in shapes if k not in expected and k not in droppable]
    misshaped = [
        f"{k} {_fmt_shape(tuple(s))} vs {_fmt_shape(tuple(ref))}"
        for k, s in shapes.items()
        for ref in (expected.get(k, droppable.get(k)),)
        if ref is not None and tuple(s) != tuple(ref)
    ]
    if missing or unexpected or misshaped:
        parts = []
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("mis-shaped (file vs model)", misshaped),
        ):
            if keys:
                more = f", … +{len(keys) - _SHOWN}" if len(keys) > _SHOWN else ""
                parts.append(f"{len(keys)} {label}: {', '.join(keys[:_SHOWN])}{more}")
        raise StateDictMismatchError(f"state dict does not match {what}: " + "; ".join(parts))
    return tuple(k for k in shapes if k in droppable)


def check_architecture(
    shapes: Shapes, model: str, config: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """Strict check of `shapes` against a registered model under the aux-key rule."""
    config = dict(config or {})
    what = Detection(get_spec(model).name, config).describe()
    return check_state_dict(
        shapes, expected_shapes(model, config), training_only_shapes(model, config), what
    )


# ---------------------------------------------------------------------------------------------
# detection: one rule per architecture, reading widths from key shapes (spandrel style)


def _count(shapes: Shapes, prefix: str) -> int:
    """Number of blocks in a Sequential stored under `prefix` (distinct next indices)."""
    indices = {k[len(prefix) :].split(".", 1)[0] for k in shapes if k.startswith(prefix)}
    return len({i for i in indices if i.isdigit()})


def _dim0(shapes: Shapes, key: str, default: int) -> int:
    """Leading size of `key`; a missing key keeps the default so the strict check names it."""
    shape = shapes.get(key)
    return shape[0] if shape else default


def _ratio(num: int, den: int) -> float:
    return float(num // den) if num % den == 0 else num / den


def _fftformer(s: Shapes) -> dict[str, Any] | None:
    if "patch_embed.proj.weight" not in s:
        return None
    dim, in_channels = s["patch_embed.proj.weight"][:2]
    out = s.get("encoder_level1.0.ffn.project_out.weight")
    hidden = out[1] if out and len(out) > 1 else 3 * dim
    # the model computes hidden = int(dim * factor); +0.5 keeps int() on the right side
    factor = _ratio(hidden, dim) if hidden % dim == 0 else (hidden + 0.5) / dim
    return {
        "dim": dim,
        "num_blocks": tuple(_count(s, f"encoder_level{i}.") for i in (1, 2, 3)),
        "num_refinement_blocks": _count(s, "refinement."),
        "ffn_expansion_factor": factor,
        "bias": "encoder_level1.0.ffn.project_in.bias" in s,
        "in_channels": in_channels,
        "out_channels": _dim0(s, "output.weight", in_channels),
    }


def _is_ce_mlwnet(s: Shapes) -> bool:
    # CE-MLWNet fuses by concatenation + 1x1 reduce; MLWNet adds (architectures §3.2, §5)
    return any(k.startswith("fusion.ch_reduce") for k in s)


def _mlwnet(s: Shapes) -> dict[str, Any] | None:
    if "encoder.feature_embed.weight" not in s or _is_ce_mlwnet(s):
        return None
    dim, in_channels = s["encoder.feature_embed.weight"][:2]
    return {
        "dim": dim,
        "in_channels": in_channels,
        "out_channels": _dim0(s, "decoder.head1.block.0.weight", 3),
    }


def _ce_mlwnet(s: Shapes) -> dict[str, Any] | None:
    if "encoder.feature_embed.weight" not in s or not _is_ce_mlwnet(s):
        return None
    dim, in_channels = s["encoder.feature_embed.weight"][:2]
    return {
        "dim": dim,
        "expand_dim": _ratio(_dim0(s, "encoder.down1.weight", 2 * dim), dim),
        "in_channels": in_channels,
        "out_channels": _dim0(s, "decoder.head1.block.weight", 3),
    }


def _hybridnet(s: Shapes) -> dict[str, Any] | None:
    if "embedding.conv.weight" not in s:
        return None
    dim, in_channels = s["embedding.conv.weight"][:2]
    return {
        "dim": dim,
        "expand_dim": _ratio(_dim0(s, "encoder.down1.weight", 2 * dim), dim),
        "use_bridge": any(k.startswith("bridge.") for k in s),
        "in_channels": in_channels,
        "out_channels": _dim0(s, "decoder.head.weight", 3),
    }


# fmt: off
_DETECTORS: tuple[tuple[str, Callable[[Shapes], dict[str, Any] | None]], ...] = (
    ("fftformer", _fftformer),
    ("mlwnet", _mlwnet),
    ("hybridnet", _hybridnet),
    ("ce-mlwnet", _ce_mlwnet),
)
# fmt: on


def _same_state_dict(model: str) -> tuple[str, ...]:
    builder = get_spec(model).builder
    return tuple(n for n in list_models() if n != model and get_spec(n).builder is builder)


def guess_architecture(shapes: Shapes) -> Detection:
    """Model and config from key names and shapes alone (no strict check)."""
    shapes = shapes_of(shapes)
    for name, rule in _DETECTORS:
        try:
            config = rule(shapes)
        except (KeyError, IndexError, ZeroDivisionError):
            config = None
        if config is not None:
            prefixes = get_spec(name).training_only_prefixes
            training = tuple(k for k in shapes if prefixes and k.startswith(prefixes))
            return Detection(name, config, training, _same_state_dict(name))
    first = ", ".join(list(shapes)[:3])
    raise UnknownArchitectureError(
        f"no registered architecture ({', '.join(n for n, _ in _DETECTORS)}) has this layout "
        f"(first keys: {first})"
    )


def detect_architecture(shapes: Shapes) -> Detection:
    """`guess_architecture`, then a strict key/shape check against the model it names."""
    detection = guess_architecture(shapes)
    dropped = check_architecture(shapes_of(shapes), detection.model, detection.config)
    return dataclasses.replace(detection, training_keys=dropped)


def detect_file(path: str | os.PathLike[str], container: str | None = None) -> Detection:
    """Which registered model (and width) a checkpoint file holds."""
    return detect_architecture(shapes_of(read_checkpoint(path, container).state_dict))


# ---------------------------------------------------------------------------------------------
# loading into a model


def resolve_architecture(
    shapes: Shapes, model: str | None = None, config: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any], tuple[str, ...], bool]:
    """Model name, full config overrides, keys to drop, and whether the model was detected.

    With `model` given, the file must hold that architecture: widths the caller left out are
    read from the file, and a file of another architecture is an ArchitectureMismatchError.
    """
    shapes = shapes_of(shapes)
    if model is None:
        detection = guess_architecture(shapes)
        name, full = detection.model, {**detection.config, **dict(config or {})}
        return name, full, check_architecture(shapes, name, full), True
    name = get_spec(model).name
    try:
        detection = guess_architecture(shapes)
    except UnknownArchitectureError:
        detection = None
    if detection is not None and get_spec(detection.model).builder is not get_spec(name).builder:
        raise ArchitectureMismatchError(
            f"the checkpoint holds {detection.describe()}, not {name}; "
            f"leave the model out to use the detected one"
        )
    full = {**(detection.config if detection else {}), **dict(config or {})}
    return name, full, check_architecture(shapes, name, full), False


def load_state_dict_strict(
    net: nn.Module, state_dict: Mapping[str, torch.Tensor], drop: Iterable[str] = ()
) -> None:
    """`load_state_dict(strict=True)` after removing the allowed training-only keys."""
    drop = set(drop)
    kept = {k: v for k, v in state_dict.items() if k not in drop}
    try:
        net.load_state_dict(kept, strict=True)
    except RuntimeError as e:  # should not happen after check_state_dict; keep it one line
        raise StateDictMismatchError(" ".join(str(e).split())[:500]) from None


def load_model(
    path: str | os.PathLike[str],
    model: str | None = None,
    config: Mapping[str, Any] | None = None,
    container: str | None = None,
) -> LoadedModel:
    """Build the model a checkpoint holds (or `model`) in eval mode and load it strictly."""
    ckpt = read_checkpoint(path, container)
    name, full, drop, detected = resolve_architecture(ckpt.state_dict, model, config)
    net = create(name, **full)
    load_state_dict_strict(net, ckpt.state_dict, drop)
    return LoadedModel(
        net.eval(), name, full, ckpt.path, ckpt.container, ckpt.stripped_prefix, drop, detected
    )


def load_pretrained(
    weights: str | os.PathLike[str],
    model: str | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> LoadedModel:
    """`--weights NAME|PATH`: a registry name (downloaded on first use) or a local file."""
    from .weights import resolve

    resolved = resolve(weights, progress=progress)
    entry = resolved.entry
    if entry is None:
        return load_model(resolved.path, model=model)
    if model is not None and get_spec(model).builder is not get_spec(entry.model).builder:
        raise ArchitectureMismatchError(
            f"weights '{entry.name}' are for {entry.model}, not {get_spec(model).name}"
        )
    return load_model(resolved.path, model or entry.model, entry.config, entry.container)


# ---------------------------------------------------------------------------------------------
# conversion


def _unshare(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors sharing memory (the LWN alias keys); copies keep both names,
    # so the converted file still loads strictly.
    seen: set[tuple[int, int]] = set()
    out = {}
    for key, tensor in state_dict.items():
        tensor = tensor.detach().contiguous()
        ident = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        out[key] = tensor.clone() if ident in seen or tensor.numel() == 0 else tensor
        seen.add(ident)
    return out


def convert_to_safetensors(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    model: str | None = None,
    container: str | None = None,
) -> ConvertResult:
    """Write the verified inference state dict of `source` as a `.safetensors` file.

    The file is written beside `output` under a temporary name and renamed when complete;
    training-only aux-head keys are left out.
    """
    from safetensors.torch import save

    source, output = Path(source), Path(output)
    if output.suffix != ".safetensors":
        raise CheckpointError(f"{output}: the output name must end in .safetensors")
    ckpt = read_checkpoint(source, container)
    name, full, drop, _ = resolve_architecture(ckpt.state_dict, model)
    tensors = _unshare({k: v for k, v in ckpt.state_dict.items() if k not in set(drop)})
    meta = {"format": "pt", "model": name, "config": json.dumps(full, sort_keys=True, default=list)}
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"cannot write {output}: {e.strerror or e}") from None
    atomic_write_bytes(output, save(tensors, metadata=meta), CheckpointError)
    return ConvertResult(source, output, name, full, len(tensors), output.stat().st_size, drop)
