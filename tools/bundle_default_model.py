"""Export a `deblur train` run's best.pt as the weights bundled inside the package.

Reads the EMA weights `deblur restore --weights best.pt` would load (best.pt's `params`),
checks them strictly against the registry model they are for, stores them as fp16 safetensors
(they load as fp32) with metadata (model, config, recipe, steps, deblur version) in
`deblur_cli/data/weights/<name>.safetensors`, and prints the file's sha256 and the exact
`[[weights]]` table to paste into `deblur_cli/data/weights.toml`. Refuses a file over 8 MB
(the wheel must stay small). This tool is not part of the installed package. Usage:
    python tools/bundle_default_model.py runs/default-tiny/best.pt --name NAME [--overwrite]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from deblur_cli import __version__
from deblur_cli.checkpoints import load_model, read_checkpoint, resolve_architecture
from deblur_cli.errors import DeblurError
from deblur_cli.files import atomic_write_bytes
from deblur_cli.models import create, get_spec, list_models
from deblur_cli.training.recipes import recipe_infos
from deblur_cli.weights import BUNDLED, bundled_dir, load_registry

MAX_BYTES = 8_000_000  # issue #13: at most 8 MB in the wheel
DATASET = "synthetic camera shake (free photos)"
LICENCE = "Apache-2.0 (the deblur-cli project's licence)"
REPORTED = (
    "no paper; held-out figures in docs/default-model.md (benchmarks/default_model_quality.py)"
)
DEFAULT_MANIFEST = Path("data/photos/MANIFEST.csv")  # when the run recorded no data.root
MANIFEST = "MANIFEST.csv"


class BundleError(DeblurError):
    """Anything that stops the export; printed as one line."""


@dataclasses.dataclass(frozen=True)
class TrainedWeights:
    state_dict: dict[str, torch.Tensor]
    model: str  # the registry model the weights are registered as
    config: dict[str, Any]  # `create()` overrides that rebuild it
    steps: int
    recipe: str
    metric: Any
    data_root: str | None


def _read_run(path: Path) -> dict[str, Any]:
    """best.pt's container (read without executing code), with the fields this tool needs."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(raw, dict):
            raise TypeError(f"it holds a {type(raw).__name__}, not a dict")
    except Exception as e:  # any failure to read is the file's, said in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise BundleError(f"{path}: cannot read ({type(e).__name__}: {first})") from None
    missing = [k for k in ("params", "model", "config", "step") if k not in raw]
    if missing:
        raise BundleError(f"{path}: not a `deblur train` best.pt (no {', '.join(missing)})")
    return dict(raw)


def _registry_model(trained: str, config: dict[str, Any]) -> str:
    """The registry model whose published config is exactly the trained one (ce-mlwnet at
    dim 8 without aux heads is ce-mlwnet-tiny), else the model the run trained."""
    spec = get_spec(trained)
    built = dataclasses.replace(spec.config, **config)
    for name in list_models():
        other = get_spec(name)
        if other.builder is spec.builder and other.config == built:
            return name
    return spec.name


def _overrides(model: str, config: dict[str, Any]) -> dict[str, Any]:
    """The fields that differ from the family's defaults or from the model's published config:
    `{ dim = 8 }` for ce-mlwnet-tiny reads as what it is and rebuilds it on either name."""
    published = get_spec(model).config
    family = type(published)()
    return {
        k: v
        for k, v in config.items()
        if getattr(family, k, None) != v or getattr(published, k, None) != v
    }


def _recipe_name(raw: dict[str, Any], path: Path, given: str | None) -> str:
    """The recipe the run used: --recipe, else the shipped recipe with the recorded
    description, else the run folder's name (`deblur train` names it after the recipe)."""
    if given:
        return given
    description = dict(raw.get("recipe") or {}).get("description")
    for info in recipe_infos():
        if description and info.description == description:
            return info.name
    return path.resolve().parent.name


def read_trained(path: Path, model: str | None, recipe: str | None) -> TrainedWeights:
    raw = _read_run(path)
    config = dict(raw["config"])
    name = model or _registry_model(str(raw["model"]), config)
    state_dict = read_checkpoint(path, "params").state_dict
    name, full, drop, _ = resolve_architecture(state_dict, name, _overrides(name, config))
    kept = {k: v for k, v in state_dict.items() if k not in set(drop)}
    data = dict(raw.get("recipe") or {}).get("data") or {}
    return TrainedWeights(
        kept,
        name,
        _overrides(name, full),
        int(raw["step"]),
        _recipe_name(raw, path, recipe),
        raw.get("metric"),
        data.get("root"),
    )


def fp16_bytes(weights: TrainedWeights) -> bytes:
    """The safetensors file: floating tensors in fp16, each its own copy (safetensors refuses
    shared memory, and the LWN alias keys share it)."""
    from safetensors.torch import save

    tensors = {
        k: (v.to(torch.float16) if v.is_floating_point() else v).detach().clone().contiguous()
        for k, v in weights.state_dict.items()
    }
    meta = {
        "format": "pt",
        "model": weights.model,
        "config": json.dumps(weights.config, sort_keys=True, default=list),
        "recipe": weights.recipe,
        "steps": str(weights.steps),
        "metric": json.dumps(weights.metric, sort_keys=True, default=str),
        "deblur": __version__,
        "storage": "float16 (loads as float32)",
    }
    return save(tensors, metadata=meta)


def fp16_error(weights: TrainedWeights, file: Path) -> float:
    """Largest output change fp16 storage causes on a fixed 64x64 input (a sanity figure)."""
    reference = create(weights.model, **weights.config)
    reference.load_state_dict(weights.state_dict, strict=True)
    stored = load_model(file, weights.model, weights.config).model  # the strict, fp32 path
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float((reference(x) - stored(x)).abs().max())


def licence_notes(manifest: Path) -> str:
    """`package (licence: count, ...)` for every package the training photos came from."""
    try:
        with manifest.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise BundleError(
            f"{manifest}: cannot read the training photos' manifest ({e.strerror or e}); "
            "pass --manifest PATH (tools/fetch_training_photos.py writes it)"
        ) from None
    if not rows or not {"package", "licence"} <= set(rows[0]):
        raise BundleError(f"{manifest}: not a training-photos manifest (package, licence)")
    by_package: dict[str, Counter[str]] = {}
    for row in rows:
        by_package.setdefault(row["package"], Counter())[row["licence"]] += 1
    parts = [
        f"{package} ({', '.join(f'{lic}: {n}' for lic, n in counts.most_common())})"
        for package, counts in by_package.items()
    ]
    return f"{len(rows)} photos: " + "; ".join(parts)


def toml_block(name: str, file: str, sha256: str, weights: TrainedWeights, notes: str) -> str:
    def text(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string

    config = ", ".join(f"{k} = {json.dumps(v)}" for k, v in weights.config.items())
    fields = [
        ("name", text(name)),
        ("model", text(weights.model)),
        ("config", f"{{ {config} }}" if config else "{}"),
        ("dataset", text(DATASET)),
        ("source", text(BUNDLED + file)),
        ("url", text("none: shipped inside the deblur-cli package")),
        ("page", text("docs/default-model.md")),
        ("file", text(file)),
        ("sha256", text(sha256)),
        ("container", text("plain")),
        ("aux_head_keys", "false"),
        ("paper_psnr", text("unknown")),
        ("paper_ssim", text("unknown")),
        ("reported", text(REPORTED)),
        ("licence", text(LICENCE)),
        ("citation", text("deblur-cli (this project), trained with `deblur train`")),
        ("notes", text(notes)),
    ]
    return "[[weights]]\n" + "\n".join(f"{k} = {v}" for k, v in fields)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("checkpoint", type=Path, help="RUN_DIR/best.pt of a `deblur train` run")
    add("--name", required=True, help="weights name, e.g. ce-mlwnet-tiny.synthetic-shake")
    add("--model", help="registry model (default: the one whose config the run trained)")
    add("--recipe", help="recipe name for the metadata (default: read from the run)")
    add("--manifest", type=Path, help="training photos' MANIFEST.csv (default: data.root's)")
    add("--out-dir", type=Path, help="where to write (default: deblur_cli/data/weights/)")
    add("--overwrite", action="store_true", help="replace an existing file of that name")
    return parser.parse_args(argv)


def checked_block(name: str, file: str, data: bytes, weights: TrainedWeights, notes: str) -> str:
    """The `[[weights]]` table, parsed by the registry's own validation before anything is
    written (a bad name, a config typo or a malformed field stops here)."""
    block = toml_block(name, file, hashlib.sha256(data).hexdigest(), weights, notes)
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "weights.toml"
        registry.write_text(block + "\n", encoding="utf-8")
        entry = load_registry(registry)[name]
    create(entry.model, **entry.config)  # unknown config fields raise here
    return block


def bundle(args: argparse.Namespace) -> tuple[Path, str, str]:
    """Write the file; returns (path, sha256, the [[weights]] table)."""
    weights = read_trained(args.checkpoint, args.model, args.recipe)
    root = Path(weights.data_root) if weights.data_root else DEFAULT_MANIFEST.parent
    notes = (
        f"Trained by `deblur train --recipe {weights.recipe}` ({weights.steps} steps, EMA "
        f"weights) with synthetic camera shake on {licence_notes(args.manifest or root / MANIFEST)}"
        " (per-photo licences and authors: MANIFEST.csv written by "
        "tools/fetch_training_photos.py). Held out: scikit-learn's china.jpg and flower.jpg. "
        f"Stored as fp16, loaded as fp32; exported by deblur {__version__}."
    )
    data = fp16_bytes(weights)
    if len(data) > MAX_BYTES:
        raise BundleError(
            f"{len(data):,} bytes is over the {MAX_BYTES:,}-byte limit for the wheel; not written"
        )
    out = (args.out_dir or bundled_dir()) / f"{args.name}.safetensors"
    block = checked_block(args.name, out.name, data, weights, notes)
    if out.exists() and not args.overwrite:
        raise BundleError(f"{out} exists; pass --overwrite to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BundleError(f"cannot create {out.parent}: {e.strerror or e}") from None
    atomic_write_bytes(out, data, BundleError)
    error = fp16_error(weights, out)
    what = f"{weights.model} {weights.config}, step {weights.steps}"
    say(f"wrote {out} ({len(data):,} bytes): {what}")
    say(f"fp16 storage changes the output by at most {error:.2e} on a 64x64 test input")
    return out, hashlib.sha256(data).hexdigest(), block


def say(line: str) -> None:
    sys.stderr.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        _, sha, block = bundle(args)
    except DeblurError as e:
        say(f"error: {e}")
        return 1
    sys.stdout.write(f"sha256 {sha}\n\n# paste into deblur_cli/data/weights.toml:\n{block}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
