"""Recipes: the TOML files shipped in `training/recipes/`, `--set section.key=value` overrides,
and the checks that need the model registry and the synthetic config (known fields only).

`resolve_recipe("ce-mlwnet-seed", ["model.dim=8"])` -> a validated `TrainConfig`.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DeblurError, TrainingError
from .config import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


@dataclass(frozen=True)
class RecipeInfo:
    name: str
    path: Path
    description: str
    model: str
    dataset: str


def list_recipes() -> list[str]:
    """Names of the shipped recipes, sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def recipe_path(recipe: str) -> Path:
    """A shipped recipe name, or a path to a TOML file."""
    path = Path(recipe)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise TrainingError(f"recipe {recipe}: no such file")
        return path
    shipped = RECIPES_DIR / f"{recipe}.toml"
    if not shipped.is_file():
        import difflib

        close = difflib.get_close_matches(recipe, list_recipes(), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise TrainingError(
            f"unknown recipe '{recipe}'{hint} (shipped: {', '.join(list_recipes())}; or a .toml path)"
        )
    return shipped


def read_recipe(recipe: str) -> dict[str, Any]:
    """The raw TOML tables of a recipe name or path."""
    path = recipe_path(recipe)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TrainingError(f"recipe {path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise TrainingError(f"recipe {path}: cannot read ({exc.strerror or exc})") from None


def parse_value(text: str) -> Any:
    """`--set` value: a TOML value (`8`, `1e-4`, `true`, `[0.9, 0.99]`, `"x"`), else the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """A copy of `raw` with each `section.key=value` (nested: `data.synthetic.kernel_size=21`)."""
    out = copy.deepcopy(raw)
    for item in sets:
        key, sep, text = item.partition("=")
        parts = [p.strip() for p in key.split(".")]
        if not sep or len(parts) < 2 or not all(parts):
            raise TrainingError(f"--set {item!r}: expected section.key=value (e.g. model.dim=8)")
        table = out
        for part in parts[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise TrainingError(f"--set {item!r}: {part} is not a table")
        table[parts[-1]] = parse_value(text.strip())
    return out


def check_model_section(config: TrainConfig) -> TrainConfig:
    """Validate `[model]` against the registry entry's config fields and types; decide
    `aux_heads` from the loss (SIMO needs the auxiliary outputs). Returns the completed config."""
    from ..models import get_spec

    spec = get_spec(config.model.name)
    defaults = {f.name: getattr(spec.config, f.name) for f in dataclasses.fields(spec.config)}
    fields = dict(config.model.config)
    unknown = sorted(set(fields) - set(defaults))
    if unknown:
        raise TrainingError(
            f"recipe: unknown key {', '.join(unknown)} in [model] for {spec.name} "
            f"(valid: name, {', '.join(defaults)})"
        )
    for key, value in fields.items():
        fields[key] = _model_value(spec.name, key, value, defaults[key])
    needs_aux = bool(config.loss.simo)
    if needs_aux and not spec.aux_heads:
        raise TrainingError(f"recipe: loss.simo needs auxiliary heads; {spec.name} has none")
    if "aux_heads" in defaults:
        if needs_aux and fields.get("aux_heads") is False:
            raise TrainingError("recipe: loss.simo needs model.aux_heads = true")
        fields.setdefault("aux_heads", needs_aux)
    if config.loss.wavelet and not spec.has_wavelets:
        raise TrainingError(f"recipe: loss.wavelet needs learnable wavelets; {spec.name} has none")
    for crop in (config.data.crop, *(s.crop for s in config.train.stages)):
        if crop % spec.size_multiple:
            raise TrainingError(
                f"recipe: crop {crop} is not a multiple of {spec.name}'s size multiple "
                f"{spec.size_multiple}"
            )
    if config.train.precision not in spec.precisions:
        raise TrainingError(
            f"recipe: {spec.name} does not support precision {config.train.precision}"
        )
    model = dataclasses.replace(config.model, name=spec.name, config=fields)
    return dataclasses.replace(config, model=model)


def _model_value(model: str, key: str, value: Any, default: Any) -> Any:
    expected = type(default)
    if isinstance(default, tuple) and isinstance(value, list):
        value = tuple(value)
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise TrainingError(
            f"recipe: model.{key} must be {expected.__name__} for {model}, got {value!r}"
        )
    return value


def check_synthetic_section(config: TrainConfig) -> None:
    """`[data.synthetic]` keys must be SynthConfig fields with valid values."""
    from .synthetic import SynthConfig

    valid = [f.name for f in dataclasses.fields(SynthConfig)]
    unknown = sorted(set(config.data.synthetic) - set(valid))
    if unknown:
        raise TrainingError(
            f"recipe: unknown key {', '.join(unknown)} in [data.synthetic] (valid: {', '.join(valid)})"
        )
    try:
        SynthConfig(**config.data.synthetic)
    except (DeblurError, TypeError, ValueError) as exc:  # SynthConfig's one-line checks
        raise TrainingError(f"recipe: [data.synthetic] {exc}") from None


def resolve_recipe(
    recipe: str | dict[str, Any], sets: Sequence[str] = (), *, root: str | None = None
) -> TrainConfig:
    """Recipe name/path (or an already parsed dict) + `--set` overrides -> validated config."""
    raw = read_recipe(recipe) if isinstance(recipe, str) else recipe
    raw = apply_overrides(raw, sets)
    if root is not None:
        raw.setdefault("data", {})["root"] = root
    config = TrainConfig.from_dict(raw)
    check_synthetic_section(config)
    return check_model_section(config)


def recipe_infos() -> list[RecipeInfo]:
    """Name, description, model and dataset of every shipped recipe."""
    infos = []
    for name in list_recipes():
        raw = read_recipe(name)
        infos.append(
            RecipeInfo(
                name=name,
                path=RECIPES_DIR / f"{name}.toml",
                description=str(raw.get("description", "")),
                model=str(raw.get("model", {}).get("name", "")),
                dataset=str(raw.get("data", {}).get("dataset", "")),
            )
        )
    return infos


def recipe_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two `TrainConfig.to_dict()` results."""
    out = []
    for key in sorted(set(a) | set(b)):
        name = f"{prefix}{key}"
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += recipe_differences(va, vb, f"{name}.")
        elif va != vb:
            out.append(name)
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TrainingError(f"cannot write {value!r} to a recipe")


def to_toml(config: TrainConfig) -> str:
    """The resolved recipe as TOML that `resolve_recipe` reads back to an equal config (written
    to the run folder as recipe.toml; `--resume` without `--recipe` uses it)."""
    raw = config.to_dict()
    lines = [f"description = {_toml_value(raw.pop('description'))}"]
    for section, table in raw.items():
        nested = {k: v for k, v in table.items() if isinstance(v, dict) or k == "stages"}
        lines += ["", f"[{section}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if k not in nested]
        for key, value in nested.items():
            if key == "stages":
                for stage in value:
                    lines += ["", f"[[{section}.stages]]"]
                    lines += [f"{k} = {_toml_value(v)}" for k, v in stage.items()]
            else:
                lines += ["", f"[{section}.{key}]"]
                lines += [f"{k} = {_toml_value(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"
