"""The typed training config: one frozen dataclass per recipe section.

A recipe (TOML) maps one-to-one onto `TrainConfig`: `[model]` -> ModelSection, `[data]` (with
`[data.synthetic]`) -> DataSection, `[optim]`, `[schedule]`, `[loss]`, `[train]` (with
`[[train.stages]]`). `TrainConfig.from_dict` rejects unknown keys, wrong types and values out of
range with a one-line TrainingError naming the key. Torch-free.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from ..errors import TrainingError

DATASETS = ("realblur-j", "realblur-r", "gopro", "paired", "synthetic")
AUGMENTS = ("dihedral", "flip", "none")
GOPRO_BLURS = ("blur", "blur_gamma")
SCHEDULES = ("cosine", "constant")
BATCH_RULES = ("accumulate", "scale-lr")
PRECISIONS = ("fp32", "bf16", "fp16")
LOSS_TERMS = ("simo", "psnr", "l1", "charbonnier", "fft", "edge", "wavelet")
# Settings that never change the weights a run produces: a resumed run may change them.
RESUMABLE_CHANGES = (
    "data.root",
    "data.workers",
    "data.cache_mb",
    "data.val_images",
    "train.val_every",
    "train.save_every",
    "train.log_every",
)


def _check(ok: bool, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise TrainingError(f"recipe: {key} {rule}, got {value!r}")


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    _check(value in choices, key, f"must be one of {', '.join(choices)}", value)


@dataclass(frozen=True)
class ModelSection:
    """`name` is a registry name; every other key is a field of that model's config dataclass
    (validated against `deblur_cli.models.get_spec(name).config` when the recipe is resolved)."""

    name: str = "ce-mlwnet"
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataSection:
    """What the network sees.

    Attributes:
        dataset: a paired layout of `deblur_cli.datasets`, or `synthetic` (camera shake applied
            to the sharp photos found under `root`).
        crop: training crop side (stage 1); a multiple of the model's size multiple.
        batch: crops per device per micro-step.
        augment: `dihedral` (the 8 flips/transposes, §3.1), `flip` (horizontal only), `none`.
        val_fraction: share of the train list held out for validation, whole scenes for RealBlur
            and GoPro (§3.6 bug 4: never the test split); 0 turns validation off.
        val_images: score only this many held-out images (evenly spread); 0 = all.
        val_crop: validate on centre crops of this side; 0 = whole images (synthetic: 2 × crop).
        scale: synthetic only: each photo region is downscaled by a factor drawn from [min, max]
            before cropping (1 = native resolution).
        cache_mb: synthetic only: decoded photos kept per DataLoader worker (§3.6 bug 10).
        synthetic: `[data.synthetic]`, the fields of `training.synthetic.SynthConfig`.
    """

    dataset: str = "synthetic"
    root: str = ""
    split: str = "train"
    gopro_blur: str = "blur"
    crop: int = 256
    batch: int = 8
    workers: int = 4
    augment: str = "dihedral"
    val_fraction: float = 0.05
    val_images: int = 0
    val_crop: int = 0
    scale: tuple[float, float] = (1.0, 1.0)
    cache_mb: int = 256
    synthetic: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _choice("data.dataset", self.dataset, DATASETS)
        _choice("data.split", self.split, ("train", "test"))
        _choice("data.gopro_blur", self.gopro_blur, GOPRO_BLURS)
        _choice("data.augment", self.augment, AUGMENTS)
        _check(self.crop >= 16, "data.crop", "must be at least 16", self.crop)
        _check(self.batch >= 1, "data.batch", "must be at least 1", self.batch)
        _check(self.workers >= 0, "data.workers", "must be >= 0", self.workers)
        _check(
            0 <= self.val_fraction < 1, "data.val_fraction", "must be in [0, 1)", self.val_fraction
        )
        _check(self.val_images >= 0, "data.val_images", "must be >= 0", self.val_images)
        _check(self.val_crop >= 0, "data.val_crop", "must be >= 0", self.val_crop)
        lo, hi = self.scale
        _check(
            0 < lo <= hi <= 1,
            "data.scale",
            "must be [min, max] with 0 < min <= max <= 1",
            self.scale,
        )
        _check(self.cache_mb >= 0, "data.cache_mb", "must be >= 0", self.cache_mb)


@dataclass(frozen=True)
class OptimSection:
    """AdamW (§3.1, §3.5)."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.9)
    weight_decay: float = 1e-3
    eps: float = 1e-8

    def __post_init__(self) -> None:
        _check(self.lr > 0, "optim.lr", "must be > 0", self.lr)
        _check(all(0 <= b < 1 for b in self.betas), "optim.betas", "must be in [0, 1)", self.betas)
        _check(self.weight_decay >= 0, "optim.weight_decay", "must be >= 0", self.weight_decay)
        _check(self.eps > 0, "optim.eps", "must be > 0", self.eps)


@dataclass(frozen=True)
class ScheduleSection:
    """LR per optimizer step: linear warm-up over `warmup` steps, then cosine from `optim.lr`
    down to `min_lr` at `train.steps` (or constant)."""

    kind: str = "cosine"
    min_lr: float = 1e-7
    warmup: int = 0

    def __post_init__(self) -> None:
        _choice("schedule.kind", self.kind, SCHEDULES)
        _check(self.min_lr >= 0, "schedule.min_lr", "must be >= 0", self.min_lr)
        _check(self.warmup >= 0, "schedule.warmup", "must be >= 0", self.warmup)


@dataclass(frozen=True)
class LossSection:
    """Weight of each loss term (0 = off); the formulas are those of protocols §3.2 without
    their constant factors, so the recipe carries them (edge 0.05, fft 0.1)."""

    simo: float = 0.0
    psnr: float = 0.0
    l1: float = 0.0
    charbonnier: float = 0.0
    fft: float = 0.0
    edge: float = 0.0
    wavelet: float = 0.0
    simo_scales: tuple[float, float, float, float] = (1.0, 0.5, 0.25, 0.125)  # §3.2 w
    charbonnier_eps: float = 1e-3

    def __post_init__(self) -> None:
        for name in LOSS_TERMS:
            value = getattr(self, name)
            _check(math.isfinite(value) and value >= 0, f"loss.{name}", "must be >= 0", value)
        _check(any(getattr(self, n) for n in LOSS_TERMS), "loss", "needs at least one term > 0", 0)
        _check(
            self.charbonnier_eps > 0, "loss.charbonnier_eps", "must be > 0", self.charbonnier_eps
        )

    def weights(self) -> dict[str, float]:
        """The active terms and their weights, in LOSS_TERMS order."""
        return {n: float(getattr(self, n)) for n in LOSS_TERMS if getattr(self, n)}


@dataclass(frozen=True)
class Stage:
    """From optimizer step `start` on, train on `crop` crops, `batch` per device (§3.4)."""

    start: int
    crop: int
    batch: int

    def __post_init__(self) -> None:
        _check(self.start >= 1, "train.stages.start", "must be >= 1", self.start)
        _check(self.crop >= 16, "train.stages.crop", "must be at least 16", self.crop)
        _check(self.batch >= 1, "train.stages.batch", "must be at least 1", self.batch)


@dataclass(frozen=True)
class TrainSection:
    """The loop.

    Attributes:
        steps: optimizer steps of the schedule (the cosine ends here).
        accumulate: micro-batches per optimizer step.
        clip: global gradient-norm clip (0 = off; 0.01 upstream, §3.5).
        ema: decay of an exponential moving average of the weights (0 = off); validation and
            best.pt then use the averaged weights.
        global_batch: the recipe's reference global batch (batch × devices × accumulate);
            0 = `data.batch × accumulate` (a one-device recipe).
        batch_rule: what to do when this run's global batch differs from `global_batch`:
            `accumulate` (keep it by accumulating) or `scale-lr` (scale the LR linearly).
        val_every / save_every / log_every: in optimizer steps (0 = never validate).
        channels_last: run convolutions in channels_last memory format.
        compile: wrap the model in torch.compile.
    """

    steps: int = 100_000
    accumulate: int = 1
    clip: float = 0.0
    ema: float = 0.0
    precision: str = "fp32"
    seed: int = 0
    global_batch: int = 0
    batch_rule: str = "accumulate"
    val_every: int = 0
    save_every: int = 1000
    log_every: int = 10
    channels_last: bool = False
    compile: bool = False
    stages: tuple[Stage, ...] = ()

    def __post_init__(self) -> None:
        _check(self.steps >= 1, "train.steps", "must be >= 1", self.steps)
        _check(self.accumulate >= 1, "train.accumulate", "must be >= 1", self.accumulate)
        _check(self.clip >= 0, "train.clip", "must be >= 0", self.clip)
        _check(0 <= self.ema < 1, "train.ema", "must be in [0, 1)", self.ema)
        _choice("train.precision", self.precision, PRECISIONS)
        _check(self.seed >= 0, "train.seed", "must be >= 0", self.seed)
        _check(self.global_batch >= 0, "train.global_batch", "must be >= 0", self.global_batch)
        _choice("train.batch_rule", self.batch_rule, BATCH_RULES)
        for key in ("val_every", "log_every"):
            _check(getattr(self, key) >= 0, f"train.{key}", "must be >= 0", getattr(self, key))
        _check(self.save_every >= 1, "train.save_every", "must be >= 1", self.save_every)
        starts = [s.start for s in self.stages]
        _check(starts == sorted(set(starts)), "train.stages", "must have increasing starts", starts)


@dataclass(frozen=True)
class TrainConfig:
    """A whole recipe. `description` is free text shown by `deblur train recipes`."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    loss: LossSection = field(default_factory=lambda: LossSection(l1=1.0))
    train: TrainSection = field(default_factory=TrainSection)
    description: str = ""

    def __post_init__(self) -> None:
        _check(
            self.schedule.warmup < self.train.steps, "schedule.warmup",
            f"must be below train.steps ({self.train.steps})", self.schedule.warmup,
        )  # fmt: skip

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        """Build from a parsed recipe; unknown keys and wrong types are TrainingErrors."""
        return _build(cls, raw, "")

    def to_dict(self) -> dict[str, Any]:
        """The recipe layout as plain data (lists for tuples, `[model]` flat), which
        `from_dict` reads back to an equal config."""
        raw = _plain(dataclasses.asdict(self))
        raw["model"] = {"name": self.model.name, **raw["model"]["config"]}
        return raw


# ---------------------------------------------------------------------------------------------
# dict -> dataclasses, with the key named in every error


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is tuple:
        return "an array"
    if origin is dict:
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _convert(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise TrainingError(f"recipe: {key} must be {_type_name(hint)}, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise TrainingError(f"recipe: {key} must hold {len(args)} values, got {value!r}")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise TrainingError(f"recipe: [{key}] must be a table, got {value!r}")
        return dict(value)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(hint, True)
    if not ok:
        raise TrainingError(f"recipe: {key} must be {_type_name(hint)}, got {value!r}")
    return float(value) if hint is float else value


def _build(cls: Any, raw: Any, prefix: str) -> Any:
    where = f"[{prefix}]" if prefix else "the top level"
    if not isinstance(raw, dict):
        raise TrainingError(f"recipe: {where} must be a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    if cls is ModelSection:  # [model]: name + the model's own config fields
        return ModelSection(
            name=_convert(raw.get("name", ModelSection.name), str, "model.name"),
            config={k: v for k, v in raw.items() if k != "name"},
        )
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise TrainingError(
            f"recipe: unknown key {', '.join(unknown)} in {where} (valid: {', '.join(names)})"
        )
    values = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in raw.items()}
    return cls(**values)
