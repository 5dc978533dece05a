"""Recipes and the typed config: every shipped recipe resolves, builds its model and optimizer
(`deblur train --dry-run`), unknown keys and bad `--set` values are one-line errors, the batch
rule, the cosine schedule with warm-up and min_lr."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers.training import make_realblur_j
from typer.testing import CliRunner

from deblur_cli.cli.app import app
from deblur_cli.errors import TrainingError
from deblur_cli.training import list_recipes, resolve_recipe
from deblur_cli.training.build import plan_batch
from deblur_cli.training.config import ScheduleSection, TrainConfig
from deblur_cli.training.recipes import parse_value, recipe_differences, to_toml
from deblur_cli.training.schedule import Schedule

runner = CliRunner()
PUBLISHED = [
    "ce-mlwnet-seed",
    "ce-mlwnet-seed-512",
    "fftformer-gopro",
    "fftformer-realblur-j",
    "hybridnet-seed",
    "mlwnet-b-gopro",
    "mlwnet-b-realblur-j",
    "mlwnet-s-realblur-j",
]


def _one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    return lines[0]


def test_every_published_run_has_a_recipe() -> None:
    assert set(PUBLISHED) <= set(list_recipes())


@pytest.mark.parametrize("name", list_recipes())
def test_every_shipped_recipe_dry_runs_through_the_cli(name: str) -> None:
    result = runner.invoke(
        app, ["train", "--recipe", name, "--dry-run", "--json", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    config = resolve_recipe(name)
    assert plan["model"] == config.model.name
    assert plan["parameters"] > 1_000_000
    assert plan["batch"]["global_batch"] == (config.train.global_batch or config.data.batch)
    assert plan["recipe"] == config.to_dict()
    assert TrainConfig.from_dict(plan["recipe"]) == config


def test_official_recipe_facts() -> None:
    s = resolve_recipe("mlwnet-s-realblur-j")
    assert (s.optim.lr, s.optim.betas, s.train.clip, s.train.seed, s.train.steps) == (
        9e-4,
        (0.9, 0.9),
        0.01,
        10,
        400_000,
    )
    assert s.loss.weights() == {"simo": 1.0}  # no wavelet loss for MLWNet-S (§3.6 bug 6)
    f = resolve_recipe("fftformer-realblur-j")
    assert f.loss.weights() == {"l1": 1.0, "fft": 0.1} and f.train.global_batch == 16
    ce = resolve_recipe("ce-mlwnet-seed")
    assert ce.model.config["aux_heads"] is True  # SIMO needs the heads
    assert ce.loss.weights() == {"simo": 1.0, "edge": 0.05, "wavelet": 1.0}


def test_dry_run_with_data_counts_steps_per_epoch(tmp_path: Path) -> None:
    root = make_realblur_j(tmp_path / "rb", scenes=4, per_scene=2)
    args = ["train", "-r", "ce-mlwnet-seed", "--root", str(root), "--set", "model.dim=8",
            "--set", "data.batch=2", "--set", "data.val_fraction=0.2", "--dry-run", "--json"]  # fmt: skip
    plan = json.loads(runner.invoke(app, args).stdout)
    assert plan["train_items"] == 6 and plan["val_items"] == 2  # one whole scene held out
    assert plan["batch"]["accumulate"] == 4  # recipe global batch 8 kept with 2 per device
    assert plan["steps_per_epoch"] == pytest.approx(6 / 8)
    assert any("accumulating 4" in n for n in plan["notes"])
    text = runner.invoke(app, args[:-1])
    assert text.exit_code == 0 and "[model]" in text.stdout and "global batch 8" in text.stdout


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["data.cropp=64"], "unknown key cropp in [data]"),
        (["model.dimm=8"], "unknown key dimm in [model]"),
        (["optimizer.lr=1"], "unknown key optimizer"),
        (["data.crop=abc"], "data.crop must be an integer"),
        (["data.crop=8"], "data.crop must be at least 16"),
        (["data.crop=40"], "not a multiple of ce-mlwnet's size multiple 16"),
        (["model.dim=8.5"], "model.dim must be int"),
        (["train.precision=fp8"], "train.precision must be one of"),
        (["optim.betas=[0.9]"], "optim.betas must hold 2 values"),
        (["nodot=1"], "expected section.key=value"),
        (["loss.simo=0", "loss.edge=0", "loss.wavelet=0"], "at least one term"),
        (["data.synthetic.kernel_size=4"], "kernel_size"),
        (["data.synthetic.blur=1"], "unknown key blur in [data.synthetic]"),
        (["schedule.warmup=700000"], "below train.steps"),
    ],
)
def test_bad_recipe_values_are_one_line_errors(sets: list[str], needle: str) -> None:
    args = ["train", "-r", "ce-mlwnet-seed", "--dry-run"]
    for item in sets:
        args += ["--set", item]
    assert needle in _one_line_error(runner.invoke(app, args))


def test_unknown_key_in_a_recipe_file_and_unknown_recipe(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nname = "ce-mlwnet"\n[train]\nsteps = 10\nlearning_rate = 1\n')
    line = _one_line_error(runner.invoke(app, ["train", "-r", str(bad), "--dry-run"]))
    assert "unknown key learning_rate in [train]" in line
    line = _one_line_error(runner.invoke(app, ["train", "-r", "ce-mlwnet-sed", "--dry-run"]))
    assert "did you mean 'ce-mlwnet-seed'" in line
    assert "give --recipe" in _one_line_error(runner.invoke(app, ["train"]))
    assert runner.invoke(app, ["train", "-r", "ce-mlwnet-seed", "--max-steps", "0"]).exit_code == 2


def test_set_values_parse_as_toml_else_strings() -> None:
    assert parse_value("8") == 8 and parse_value("1e-4") == 1e-4 and parse_value("true") is True
    assert parse_value("[0.9, 0.99]") == [0.9, 0.99] and parse_value("realblur-j") == "realblur-j"
    config = resolve_recipe(
        "ce-mlwnet-seed",
        [
            "data.dataset=gopro",
            "optim.betas=[0.9, 0.99]",
            "train.stages=[{start=5, crop=64, batch=2}]",
        ],
    )
    assert config.data.dataset == "gopro" and config.optim.betas == (0.9, 0.99)
    assert config.train.stages[0].crop == 64


def test_resolved_recipe_round_trips_through_toml() -> None:
    import tomllib

    config = resolve_recipe(
        "ce-mlwnet-seed",
        [
            "model.dim=8",
            "data.synthetic.kernel_size=21",
            "train.stages=[{start=5, crop=64, batch=2}]",
        ],
    )
    assert resolve_recipe(tomllib.loads(to_toml(config))) == config
    other = resolve_recipe("ce-mlwnet-seed", ["model.dim=16", "data.root=/x"])
    assert recipe_differences(config.to_dict(), other.to_dict()) == [
        "data.root", "data.synthetic.kernel_size", "model.dim", "train.stages",
    ]  # fmt: skip


def test_batch_rule_accumulate_and_scale_lr() -> None:
    config = resolve_recipe("mlwnet-s-realblur-j")  # 8 per device, recipe global batch 64
    on_8 = plan_batch(config, 8)
    assert (on_8.accumulate, on_8.global_batch, on_8.lr, on_8.note) == (1, 64, 9e-4, None)
    on_2 = plan_batch(config, 2)
    assert (on_2.accumulate, on_2.global_batch, on_2.lr) == (4, 64, 9e-4)
    assert "accumulating 4" in (on_2.note or "")
    scaled = plan_batch(resolve_recipe("mlwnet-s-realblur-j", ['train.batch_rule="scale-lr"']), 2)
    assert (scaled.accumulate, scaled.global_batch) == (1, 16)
    assert scaled.lr == pytest.approx(9e-4 * 16 / 64) and "scaled" in (scaled.note or "")
    with pytest.raises(TrainingError, match="not a multiple"):
        plan_batch(resolve_recipe("mlwnet-s-realblur-j", ["data.batch=3"]), 1)


def test_cosine_schedule_with_warmup_and_min_lr() -> None:
    s = Schedule.from_section(ScheduleSection(min_lr=1e-5, warmup=4), base_lr=1e-3, total=20)
    assert [s.lr(i) for i in range(4)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert s.lr(4) == pytest.approx(1e-3)
    assert s.lr(12) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 8 / 16)))
    assert s.lr(20) == pytest.approx(1e-5) and s.lr(30) == pytest.approx(1e-5)  # min_lr honoured
    # without warm-up it is torch's CosineAnnealingLR stepped per optimizer step
    plain = Schedule.from_section(ScheduleSection(min_lr=1e-7), base_lr=9e-4, total=10)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=9e-4)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=1e-7)
    for step in range(10):
        assert plain.lr(step) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        ref.step()
    constant = Schedule.from_section(ScheduleSection(kind="constant", warmup=2), 1e-3, 10)
    assert [constant.lr(i) for i in (0, 1, 2, 9)] == pytest.approx([5e-4, 1e-3, 1e-3, 1e-3])


@pytest.mark.parametrize(
    ("recipe", "sets", "unused"),
    [
        ("mlwnet-b-realblur-j", ["loss.simo=0", "loss.l1=1"], True),  # MLWNet always builds heads
        ("mlwnet-b-realblur-j", [], False),
        ("ce-mlwnet-seed", ["loss.simo=0", "loss.l1=1"], False),  # heads not built without SIMO
        ("ce-mlwnet-seed", ["loss.simo=0", "loss.l1=1", "model.aux_heads=true"], True),
        ("fftformer-gopro", [], False),
    ],
)
def test_ddp_is_told_about_heads_without_gradient(
    recipe: str, sets: list[str], unused: bool
) -> None:
    from deblur_cli.training.build import has_unused_heads
    from deblur_cli.training.losses import Criterion

    config = resolve_recipe(recipe, sets)
    assert has_unused_heads(config, Criterion(config.loss).needs_aux) is unused
