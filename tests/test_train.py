"""The training loop on CPU with width-8 networks: it learns, resumes bit-identically, stops
on a non-finite loss keeping the last good checkpoint, accumulates and clips as specified."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.training import TINY, make_paired, make_photos, make_realblur_j

from deblur_cli.errors import TrainingError
from deblur_cli.training import RunOptions, TrainConfig, resolve_recipe, train
from deblur_cli.training import losses as losses_module
from deblur_cli.training.build import build_model
from deblur_cli.training.distributed import DistEnv
from deblur_cli.training.loop import Run, optimizer_step, setup_run

CPU = DistEnv(rank=0, world=1, local_rank=0, device=torch.device("cpu"))


def _options(out: Path, **kw: Any) -> RunOptions:
    return RunOptions(out=out, device="cpu", threads=1, **kw)


def _overfit_recipe(root: Path) -> TrainConfig:
    raw = {
        "model": {"name": "ce-mlwnet", "dim": 8},
        "data": {"dataset": "paired", "root": str(root), "crop": 32, "batch": 1, "workers": 0,
                 "augment": "none", "val_fraction": 0.0},
        "optim": {"lr": 2e-3, "weight_decay": 0.0},
        "schedule": {"kind": "constant"},
        "loss": {"psnr": 1.0},
        "train": {"steps": 25, "save_every": 1000, "log_every": 5},
    }  # fmt: skip
    return resolve_recipe(raw)


def _psnr_of(model: torch.nn.Module, blur: torch.Tensor, sharp: torch.Tensor) -> float:
    with torch.no_grad():
        out = model.eval()(blur).clamp(0, 1)
    return float(10 * torch.log10(1 / ((out - sharp) ** 2).mean()))


def test_tiny_ce_mlwnet_overfits_one_pair(tmp_path: Path) -> None:
    root = make_paired(tmp_path / "pair", n=1, size=(32, 32))
    config = _overfit_recipe(root)
    from deblur_cli.datasets import read_rgb

    blur, sharp = (
        torch.from_numpy(read_rgb(root / side / "0.png").transpose(2, 0, 1).copy())[None].float()
        / 255
        for side in ("blur", "sharp")
    )
    torch.manual_seed(config.train.seed)  # the loop's initial weights
    before = _psnr_of(build_model(config, torch.device("cpu")), blur, sharp)
    report = train(config, _options(tmp_path / "run"))
    trained = build_model(config, torch.device("cpu"))
    trained.load_state_dict(torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"])
    after = _psnr_of(trained, blur, sharp)
    assert report.step == 25 and not report.interrupted
    assert after > before + 3.0, (before, after)
    assert report.final_losses["psnr"] < -after + 1.0  # the loss is minus the PSNR of the crop


def _resume_recipe(root: Path) -> TrainConfig:
    # EMA, clipping, warm-up, accumulation and a progressive stage all have to survive a resume
    sets = [*TINY, "data.batch=1", "train.accumulate=2", "train.ema=0.9", "train.clip=0.01",
            "schedule.warmup=2", "train.steps=6", "train.stages=[{start=3, crop=48, batch=1}]",
            "data.val_fraction=0"]  # fmt: skip
    return resolve_recipe("ce-mlwnet-seed", sets, root=str(root))


def _tensors(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    out = {f"model.{k}": v for k, v in state["model"].items()}
    out.update({f"ema.{k}": v for k, v in (state["ema"] or {}).items()})
    for pid, slots in state["optimizer"]["state"].items():
        out.update({f"opt.{pid}.{k}": v for k, v in slots.items()})
    return out


def _assert_identical(a: Path, b: Path) -> None:
    sa, sb = (torch.load(p, weights_only=True) for p in (a, b))
    ta, tb = _tensors(sa), _tensors(sb)
    assert ta.keys() == tb.keys()
    different = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not different, different[:5]
    assert (sa["step"], sa["data"]) == (sb["step"], sb["data"])


def test_interrupted_run_resumes_to_identical_weights(tmp_path: Path) -> None:
    root = make_realblur_j(tmp_path / "rb")
    config = _resume_recipe(root)
    whole = train(config, _options(tmp_path / "whole"))
    calls = iter(range(100))
    stopped = train(config, _options(tmp_path / "cut", command="deblur train ... --resume"),
                    should_stop=lambda: next(calls) >= 1)  # fmt: skip
    assert stopped.interrupted and stopped.step == 2
    assert stopped.resume_command == "deblur train ... --resume"  # as given, nothing appended
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["step"] == 2
    resumed = train(config, _options(tmp_path / "cut", resume=True))
    assert (whole.step, resumed.step, resumed.start_step) == (6, 6, 2)
    _assert_identical(tmp_path / "whole" / "last.pt", tmp_path / "cut" / "last.pt")
    steps = [
        line.split(",")[0] for line in (tmp_path / "cut" / "log.csv").read_text().splitlines()[1:]
    ]
    assert steps == ["1", "2", "3", "4", "5", "6"]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_paired(tmp_path / "pair", n=1, size=(32, 32))
    config = resolve_recipe(_overfit_recipe(root).to_dict(), ["train.save_every=1"])
    real = losses_module.psnr_loss
    calls = {"n": 0}

    def flaky(outputs: Any, target: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        value = real(outputs, target)
        return value * float("nan") if calls["n"] == 3 else value

    monkeypatch.setattr(losses_module, "psnr_loss", flaky)
    with pytest.raises(
        TrainingError, match=r"non-finite loss at step 3 \(loss=nan, psnr=nan\).*last.pt"
    ):
        train(config, _options(tmp_path / "run"))
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def _run_for(tmp_path: Path, name: str, sets: list[str]) -> Run:
    root = tmp_path / "pair"
    if not root.exists():
        make_paired(root, n=2, size=(32, 32))
    raw = _overfit_recipe(root).to_dict()
    raw["loss"] = {"simo": 1.0, "wavelet": 1.0, "edge": 0.05}  # the seed's CE-MLWNet loss
    raw["model"].pop("aux_heads")  # resolved for the psnr loss; let SIMO decide again
    config = resolve_recipe(raw, sets)
    return setup_run(config, _options(tmp_path / name), CPU)


def _grads_of_one_step(
    run: Run, batches: list[tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}

    def capture(optimizer: Any, args: Any, kwargs: Any) -> None:
        for name, p in run.model.named_parameters():
            seen[name] = p.grad.detach().clone()

    run.optimizer.register_step_pre_hook(capture)
    stream: Iterator[tuple[torch.Tensor, torch.Tensor]] = iter(batches)
    optimizer_step(run, stream)
    return seen


def _samples() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)


def test_accumulating_two_micro_batches_equals_one_double_batch(tmp_path: Path) -> None:
    blur, sharp = _samples()
    acc = _run_for(tmp_path, "acc", ["data.batch=1", "train.accumulate=2"])
    big = _run_for(tmp_path, "big", ["data.batch=2", "train.accumulate=1"])
    assert acc.plan.batch.accumulate == 2 and big.plan.batch.accumulate == 1
    g_acc = _grads_of_one_step(acc, [(blur[:1], sharp[:1]), (blur[1:], sharp[1:])])
    g_big = _grads_of_one_step(big, [(blur, sharp)])
    for name in g_big:
        torch.testing.assert_close(g_acc[name], g_big[name], rtol=1e-4, atol=1e-6, msg=name)


def test_global_norm_clipping(tmp_path: Path) -> None:
    blur, sharp = _samples()
    free = _grads_of_one_step(_run_for(tmp_path, "free", ["data.batch=2"]), [(blur, sharp)])
    clipped = _grads_of_one_step(
        _run_for(tmp_path, "clip", ["data.batch=2", "train.clip=0.01"]), [(blur, sharp)]
    )
    norm = float(
        torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in free.values()]))
    )
    assert norm > 0.01  # so the clip is active
    clipped_norm = float(
        torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(g) for g in clipped.values()])
        )
    )
    assert clipped_norm == pytest.approx(0.01, rel=1e-4)
    for name in free:  # same direction, scaled by clip / norm
        torch.testing.assert_close(
            clipped[name], free[name] * (0.01 / (norm + 1e-6)), rtol=1e-4, atol=1e-9
        )


def test_validation_selects_best_and_best_pt_is_a_weights_container(tmp_path: Path) -> None:
    root = make_realblur_j(tmp_path / "rb")
    config = resolve_recipe(
        "ce-mlwnet-seed", [*TINY, "train.val_every=1", "data.val_fraction=0.3"], root=str(root)
    )
    events: list[Any] = []
    report = train(config, _options(tmp_path / "run", max_steps=2), progress=events.append)
    vals = [e.validation for e in events if e.kind == "validation"]
    assert len(vals) == 2 and all(v.protocol == "realblur-ecc" and v.images == 2 for v in vals)
    assert report.best_psnr == max(v.psnr for v in vals)
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["model"] == "ce-mlwnet" and best["config"]["dim"] == 8
    assert best["metric"]["step"] == report.best_step and best["step"] == report.best_step
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert last["best"]["psnr"] == report.best_psnr  # recorded before last.pt is written
    from deblur_cli.checkpoints import load_model

    loaded = load_model(tmp_path / "run" / "best.pt")
    assert loaded.name == "ce-mlwnet" and loaded.config["dim"] == 8 and loaded.detected
    # the training-only aux heads are in the file and dropped for inference
    assert any(k.startswith("decoder.head2") for k in loaded.dropped_keys)
    x = torch.rand(1, 3, 32, 32)
    assert loaded.model(x).shape == x.shape


def test_synthetic_run_resumed_with_other_worker_count_is_identical(tmp_path: Path) -> None:
    # the CPU recipe of issue #13 in miniature: synthetic shake on photos, PSNR + wavelet, EMA
    photos = make_photos(tmp_path / "photos", n=4)
    sets = [*TINY, "data.dataset=synthetic", "data.synthetic.kernel_size=9", "data.val_fraction=0",
            "data.scale=[0.5, 1.0]", "loss.simo=0", "loss.edge=0", "loss.psnr=1", "train.ema=0.99",
            "train.steps=4"]  # fmt: skip
    config = resolve_recipe("ce-mlwnet-seed", sets, root=str(photos))
    train(config, _options(tmp_path / "whole"))
    two_workers = resolve_recipe(config.to_dict(), ["data.workers=2"])
    train(two_workers, _options(tmp_path / "cut", max_steps=2))
    train(two_workers, _options(tmp_path / "cut", resume=True))
    _assert_identical(tmp_path / "whole" / "last.pt", tmp_path / "cut" / "last.pt")
